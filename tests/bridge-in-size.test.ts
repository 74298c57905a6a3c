// A bridge at MQTT 5 tells the site's broker the largest packet it takes (what the hub's own
// broker takes, and 64 KiB more): a bigger message published there is dropped by the broker, not
// read into the hub's memory whole only to be refused.
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { bridgeOk, eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';

const TAKEN_IN = /^floorwatch_messages_received_total\{source="bridge",kind="telemetry"\} (\d+)$/m;

describe('a bridge in, at MQTT 5', () => {
  let broker: MosquittoHandle | undefined;
  let hub: TestHub | undefined;
  afterAll(async () => {
    await hub?.dispose();
    await broker?.dispose();
  });

  it('is not sent a message larger than the hub takes, and goes on with the next', async () => {
    broker = await startMosquitto();
    hub = await startTestHub({
      config: {
        ingest: { max_payload_bytes: 4096 },
        bridges: [
          {
            name: 'site',
            url: broker.url,
            out: { alerts: false, status: false },
            in: { topics: ['floorwatch/devices/+/telemetry'] },
          },
        ],
      },
    });
    await eventually(() => bridgeOk(hub!), { what: 'the bridge to connect' });
    const device = await mqtt.connectAsync(broker.url, { clientId: 'site-devices' });
    await device.publishAsync(
      'floorwatch/devices/big-1/telemetry',
      JSON.stringify({ note: 'x'.repeat(200_000), co2: 600 }),
      {
        qos: 1,
      },
    );
    await device.publishAsync('floorwatch/devices/small-1/telemetry', JSON.stringify({ co2: 610 }), { qos: 1 });
    await device.endAsync();
    await eventually(
      async () =>
        (await hub!.json<{ devices: { id: string }[] }>('/api/v1/devices')).devices.some((d) => d.id === 'small-1'),
      { what: "small-1 in the hub's device list" },
    );
    expect(await metric(hub, TAKEN_IN)).toBe(1);
    expect(await bridgeOk(hub)).toBe(true);
  });
});
