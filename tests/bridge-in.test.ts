// Bridge in from a real Mosquitto 2 over MQTT 5: devices publish QoS 1 to the site's broker, the
// hub takes their readings through a shared subscription with a persistent session and
// acknowledges each only once its journal has it; killed with SIGKILL mid-stream and started
// again, it loses nothing the broker had from the devices.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { eventually, spawnHub, tempDir, type HubProcess } from './support/hub.ts';
import { startFleet } from './support/load.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';

const DEVICES = 10;
const PER_DEVICE = 200;

describe('a bridge in from the site’s broker', () => {
  const influxUrl = `${inject('influxUrl')}/bridge_in_${Date.now()}`;
  const store = new InfluxStore({ url: influxUrl });
  const dataDir = tempDir();
  let run = 0;
  let broker: MosquittoHandle | undefined;
  let hub: HubProcess | undefined;

  afterAll(async () => {
    if (hub && hub.child.exitCode === null && hub.child.signalCode === null) {
      hub.child.kill('SIGTERM');
      await hub.exited;
    }
    await broker?.dispose();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([4, 5] as const)(
    'at MQTT %s, stores every reading the broker took from the devices, across a SIGKILL of the hub',
    async (protocol) => {
      if (hub && hub.child.exitCode === null && hub.child.signalCode === null) {
        hub.child.kill('SIGTERM');
        await hub.exited;
      }
      await broker?.dispose();
      broker = await startMosquitto();
      const config = {
        bridges: [
          {
            name: 'site',
            url: broker.url,
            protocol,
            out: { alerts: false, status: false },
            in: { topics: ['floorwatch/devices/+/telemetry'], shared_group: 'floorwatch' },
          },
        ],
        rules: { overrides: { co2: { enabled: false } } },
      };
      const start = async () => {
        hub = await spawnHub(dataDir, { influxUrl, config, logLevel: 'warn' });
        await eventually(
          async () =>
            ((await (await fetch(`${hub!.url}/api/v1/health`)).json()) as { checks: Record<string, { ok: boolean }> })
              .checks['bridge site']?.ok,
          { what: 'the bridge to connect' },
        );
      };
      await start();
      // Each run its own readings: the second starts where the first's ended.
      const baseTs = Math.floor(Date.now() / 1000) * 1000 - PER_DEVICE * 1000 * (2 - run++) * 2;
      // The devices talk to the site's broker, which acknowledges them itself.
      const fleet = startFleet({
        url: broker.url,
        devices: DEVICES,
        readingsPerDevice: PER_DEVICE,
        window: 2,
        baseTs,
        intervalMs: 5,
        prefix: 'b',
      });
      await fleet.ackedAtLeast((DEVICES * PER_DEVICE) / 3);
      hub!.child.kill('SIGKILL');
      expect((await hub!.exited).signal).toBe('SIGKILL');
      await start();
      await fleet.done;
      await fleet.stop();
      const window = { from: baseTs, to: baseTs + PER_DEVICE * 1000 };
      await eventually(async () => (await store.count({ metric: 'co2', ...window })) === DEVICES * PER_DEVICE, {
        what: 'every reading in InfluxDB',
        timeoutMs: 30_000,
      });
      for (const d of [0, DEVICES - 1])
        expect(await store.count({ device: fleet.deviceId(d), metric: 'co2', ...window })).toBe(PER_DEVICE);
    },
  );
});
