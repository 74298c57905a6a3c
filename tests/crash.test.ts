// Nothing acknowledged is lost: the hub is killed with SIGKILL twice while 100 devices publish
// 20,000 QoS 1 readings, and InfluxDB ends with every reading exactly once, and (once the hub has
// stopped) each minute's aggregate counting each reading once.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { spawnHub, tempDir, type HubProcess } from './support/hub.ts';
import { startFleet } from './support/load.ts';
import { rmSync } from 'node:fs';

const DEVICES = 100;
const PER_DEVICE = 200;
const TOTAL = DEVICES * PER_DEVICE;

describe('hub killed mid-stream', () => {
  const dataDir = tempDir();
  const influxUrl = `${inject('influxUrl')}/crash_${Date.now()}`;
  const store = new InfluxStore({ url: influxUrl });
  let hub: HubProcess | undefined;

  afterAll(async () => {
    if (hub && hub.child.exitCode === null) {
      hub.child.kill('SIGTERM');
      await hub.exited;
    }
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores every acknowledged reading exactly once across two SIGKILLs', async () => {
    hub = await spawnHub(dataDir, { influxUrl, logLevel: 'warn' });
    const { httpPort, mqttPort } = hub;
    const baseTs = Math.floor(Date.now() / 1000) * 1000 - PER_DEVICE * 1000;
    const fleet = startFleet({ url: hub.mqttUrl, devices: DEVICES, readingsPerDevice: PER_DEVICE, window: 4, baseTs });

    for (const killAt of [TOTAL * 0.25, TOTAL * 0.6]) {
      await fleet.ackedAtLeast(killAt);
      hub.child.kill('SIGKILL');
      const exit = await hub.exited;
      expect(exit.signal).toBe('SIGKILL');
      const ackedAtKill = fleet.acked();
      expect(ackedAtKill).toBeLessThan(TOTAL);
      hub = await spawnHub(dataDir, { influxUrl, httpPort, mqttPort, logLevel: 'warn' });
    }
    await fleet.done;
    expect(fleet.acked()).toBe(TOTAL);
    await fleet.stop();

    const window = { from: baseTs, to: baseTs + PER_DEVICE * 1000 };
    const stored = await (async () => {
      for (;;) {
        const health = (await (await fetch(`${hub.url}/api/v1/health`)).json()) as {
          checks: { journal: { backlog: number } };
        };
        if (health.checks.journal.backlog === 0) return store.count({ metric: 'co2', ...window });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    expect(stored).toBe(TOTAL);

    // Spot checks: the values are the ones sent, at their own timestamps.
    for (const [d, i] of [
      [0, 0],
      [37, 51],
      [63, 128],
      [99, 199],
    ] as const) {
      const points = await store.query({
        device: fleet.deviceId(d),
        metric: 'co2',
        from: fleet.ts(i),
        to: fleet.ts(i) + 1,
      });
      expect(points).toEqual([{ ts: fleet.ts(i), value: fleet.value(d, i), device: fleet.deviceId(d) }]);
    }
    // A hub that stops rolls up every minute still waiting; those a kill cut through were rolled
    // up from the raw readings after the replay, not added to. Per device, every reading once, and
    // every minute's aggregate of them once.
    hub.child.kill('SIGTERM');
    expect((await hub.exited).code).toBe(0);
    for (const d of [0, 50, 99]) {
      expect(await store.count({ device: fleet.deviceId(d), metric: 'co2', ...window })).toBe(PER_DEVICE);
      // Minutes are stamped at their start: the first one began before the window.
      const minutes = await store.queryMinutes({
        device: fleet.deviceId(d),
        metric: 'co2',
        from: window.from - 60_000,
        to: window.to,
      });
      expect(minutes.reduce((n, m) => n + m.count, 0)).toBe(PER_DEVICE);
      for (const m of minutes) {
        const sent = Array.from({ length: PER_DEVICE }, (_, i) => i).filter(
          (i) => fleet.ts(i) >= m.ts && fleet.ts(i) < m.ts + 60_000,
        );
        expect(m.count).toBe(sent.length);
        expect(m.mean).toBeCloseTo(sent.reduce((s, i) => s + fleet.value(d, i), 0) / sent.length, 9);
      }
    }
  });
});
