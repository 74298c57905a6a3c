// Two hubs of a cluster bridged to one site broker (Mosquitto 2, MQTT 5): they share the
// subscription to the devices' topics, so each reading is taken in once, by one of them; and the
// hubs' status there (and on their own brokers) is the site's: one hub stopping leaves "online"
// while the other runs, and the last to stop leaves "offline".
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bridgeOk, eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

const READINGS = 40;

/** The retained status a new subscriber gets, and every status after it, as they arrive. */
async function statusWatch(url: string, clientId: string) {
  const client = await mqtt.connectAsync(url, { clientId });
  const seen: string[] = [];
  client.on('message', (_topic, payload) => seen.push(payload.toString()));
  await client.subscribeAsync('floorwatch/hub/status', { qos: 1 });
  return { seen, end: () => client.endAsync() };
}

describe('the hubs of a cluster bridged to the site’s broker', () => {
  let redis: RedisHandle;
  let broker: MosquittoHandle;
  const hubs: TestHub[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    broker = await startMosquitto();
  });
  afterAll(async () => {
    for (const hub of hubs) await hub.dispose();
    await broker.dispose();
    await redis.dispose();
  });

  it('take each reading once between them, and say offline only when the last one stops', async () => {
    const start = async (node: string) => {
      const hub = await startTestHub({
        influxUrl: `${inject('influxUrl')}/cluster_bridges`,
        config: {
          cluster: { redis_url: redis.url, node_id: node, lease_ms: 1000 },
          rules: { overrides: { co2: { enabled: false } } },
          bridges: [
            {
              name: 'site',
              url: broker.url,
              out: { alerts: false },
              in: { topics: ['floorwatch/devices/+/telemetry'], shared_group: 'floorwatch' },
            },
          ],
        },
      });
      hubs.push(hub);
      await eventually(() => bridgeOk(hub), { what: `the bridge of ${node} to connect` });
      return hub;
    };
    const a = await start('node-a');
    const b = await start('node-b');

    const device = await mqtt.connectAsync(broker.url, { clientId: 'cb-1', protocolVersion: 5 });
    const base = Date.now() - READINGS * 1000;
    for (let i = 0; i < READINGS; i++)
      await device.publishAsync(
        'floorwatch/devices/cb-1/telemetry',
        JSON.stringify({ ts: base + i * 1000, co2: 600 + i }),
        {
          qos: 1,
        },
      );
    await device.endAsync();
    const stored = async (hub: TestHub) =>
      (await hub.json<{ points: unknown[] }>('/api/v1/readings?device=cb-1&metric=co2&from=-1h')).points.length;
    await eventually(async () => (await stored(b)) >= READINGS, { what: 'every reading stored' });
    expect(await stored(a)).toBe(READINGS);
    // Taken in once, shared between the hubs (the store would hide a reading taken twice).
    const accepted = async (hub: TestHub) =>
      Number(
        /^floorwatch_readings_accepted_total(?:\{[^}]*\})? (\d+)$/m.exec(await (await hub.api('/metrics')).text())?.[1],
      );
    const taken = [await accepted(a), await accepted(b)];
    expect(taken[0]! + taken[1]!).toBe(READINGS);
    expect(Math.min(...taken)).toBeGreaterThan(0);

    const site = await statusWatch(broker.url, 'status-site');
    await eventually(() => site.seen.at(-1) === 'online', { what: 'online on the site broker' });
    await a.stop();
    // node-a said offline as it left; node-b, still running, answered online.
    await eventually(() => site.seen.includes('offline') && site.seen.at(-1) === 'online', {
      what: 'online again on the site broker',
    });
    const own = await statusWatch(b.mqttUrl, 'status-own');
    await eventually(() => own.seen.at(-1) === 'online', { what: "online on node-b's own broker" });
    await own.end();

    await b.stop();
    await eventually(() => site.seen.at(-1) === 'offline', { what: 'offline once the last hub stopped' });
    const after = await statusWatch(broker.url, 'status-after');
    await eventually(() => after.seen.length > 0, { what: 'the retained status' });
    expect(after.seen).toEqual(['offline']);
    await after.end();
    await site.end();
  });
});
