// Redis stopped (SIGSTOP) for 20 s under two hubs of a cluster: devices keep publishing and are
// acknowledged (each hub's journal holds what it takes), health says Redis is unreachable, each
// hub raises its own cluster_degraded alert; once Redis answers again forwarding catches up, the
// alerts resolve, and every acknowledged reading is stored once. A device that connects while
// Redis is away is taken in, and its last will reaches Redis once it answers.
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startFleet } from './support/load.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

const PER_DEVICE = 300;
const DEVICES = 5;
const PAUSE_MS = 20_000;

interface ClusterCheck {
  ok: boolean;
  detail: string;
  leader: string | null;
  nodes: { node: string; journalLsn: number; forwardedLsn: number }[];
}

async function cluster(hub: TestHub): Promise<ClusterCheck> {
  return (await hub.json<{ checks: { cluster: ClusterCheck } }>('/api/v1/health')).checks.cluster;
}

describe('a cluster whose Redis stops for 20 s', () => {
  const influxUrl = `${inject('influxUrl')}/cluster_outage_${Date.now()}`;
  const store = new InfluxStore({ url: influxUrl });
  let redis: RedisHandle;
  const hubs: TestHub[] = [];
  const watchers: MqttClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (const node of ['node-a', 'node-b'])
      hubs.push(
        await startTestHub({
          influxUrl,
          config: {
            rules: { overrides: { co2: { enabled: false } } },
            cluster: { redis_url: redis.url, node_id: node, lease_ms: 1000, degraded_after: '2s' },
          },
        }),
      );
  });
  afterAll(async () => {
    redis.resume();
    for (const w of watchers) await w.endAsync(true);
    for (const hub of hubs) await hub.dispose();
    await redis.dispose();
    await store.close();
  });

  it('acknowledges and keeps every reading, says so in health and in an alert per hub, and catches up', async () => {
    const [a, b] = hubs as [TestHub, TestHub];
    await eventually(async () => (await cluster(a)).leader ?? undefined, { what: 'a rules leader' });
    const heard = new Map<string, string[]>();
    for (const hub of hubs) {
      const watch = await mqtt.connectAsync(hub.mqttUrl, { clientId: `watch-${hub.dataDir.slice(-6)}` });
      watchers.push(watch);
      const events: string[] = [];
      heard.set(hub.mqttUrl, events);
      watch.on('message', (topic, payload) => {
        if (payload.length > 0 && topic.includes('cluster_degraded'))
          events.push(`${(JSON.parse(payload.toString()) as { event: string }).event} ${topic}`);
      });
      await watch.subscribeAsync('floorwatch/alerts/hub/#', { qos: 1 });
    }
    const baseTs = Math.floor(Date.now() / 1000) * 1000 - PER_DEVICE * 1000;
    const fleets = [a, b].map((hub, i) =>
      startFleet({
        url: hub.mqttUrl,
        prefix: `f${i}`,
        devices: DEVICES,
        readingsPerDevice: PER_DEVICE,
        window: 1,
        baseTs,
        intervalMs: 50,
      }),
    );
    const acked = () => fleets.reduce((n, f) => n + f.acked(), 0);
    await eventually(() => acked() > 100, { what: 'the fleets to publish' });

    redis.pause();
    const atPause = acked();
    try {
      for (const [hub, node] of [
        [a, 'node-a'],
        [b, 'node-b'],
      ] as const) {
        await eventually(async () => (await cluster(hub)).detail.includes('unreachable'), {
          what: `${node}'s health to say Redis is unreachable`,
        });
        await eventually(
          () => heard.get(hub.mqttUrl)?.includes(`firing floorwatch/alerts/hub/cluster_degraded.${node}`),
          {
            what: `${node}'s cluster_degraded alert`,
            timeoutMs: 10_000,
          },
        );
      }
      // Still acknowledged while Redis is away: the journals hold it.
      await eventually(() => acked() > atPause + 200, { what: 'readings acknowledged while Redis is stopped' });
      // A device that connects now, with a clean session and a last will, is taken in too.
      const late = await mqtt.connectAsync(a.mqttUrl, {
        clientId: 'late-1',
        reconnectPeriod: 0,
        connectTimeout: 15_000,
        will: { topic: 'floorwatch/devices/late-1/status', payload: Buffer.from('offline'), qos: 1, retain: true },
      });
      watchers.push(late);
      await late.publishAsync('floorwatch/devices/late-1/telemetry', JSON.stringify({ co2: 600 }), { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, PAUSE_MS - 5000)));
    } finally {
      redis.resume();
    }

    // The late device's will, kept by its hub while Redis was away, is in Redis once it answers,
    // and so is the hub it is connected to: another hub publishes the will if this one dies, and
    // not once the device is connected elsewhere.
    const probe = new Redis(redis.url);
    try {
      const [willKey] = await eventually(
        async () => {
          const keys = await probe.keys('*will:*:late-1');
          return keys.length === 1 ? keys : undefined;
        },
        { what: "the late device's will in Redis", timeoutMs: 10_000 },
      );
      const hub = willKey?.split(':').at(-2);
      await eventually(
        async () => {
          const [presence] = await probe.keys('*presence');
          return presence !== undefined && hub !== undefined && (await probe.hget(presence, 'late-1')) === hub;
        },
        { what: "the late device's hub recorded in Redis" },
      );
    } finally {
      probe.disconnect();
    }
    await Promise.all(fleets.map((f) => f.done));
    for (const f of fleets) await f.stop();
    for (const [hub, node] of [
      [a, 'node-a'],
      [b, 'node-b'],
    ] as const) {
      await eventually(
        () => heard.get(hub.mqttUrl)?.includes(`resolved floorwatch/alerts/hub/cluster_degraded.${node}`),
        {
          what: `${node}'s cluster_degraded alert to resolve`,
          timeoutMs: 10_000,
        },
      );
    }
    // Forwarding catches up: every hub's stream holds its whole journal.
    await eventually(
      async () => {
        const check = await cluster(a);
        return check.ok && check.nodes.every((n) => n.forwardedLsn === n.journalLsn && n.journalLsn > 0);
      },
      { what: 'forwarding to catch up', timeoutMs: 15_000 },
    );
    const window = { from: baseTs, to: baseTs + PER_DEVICE * 1000 };
    await eventually(async () => (await store.count({ metric: 'co2', ...window })) === 2 * DEVICES * PER_DEVICE, {
      what: 'every acknowledged reading in InfluxDB',
    });
    expect(acked()).toBe(2 * DEVICES * PER_DEVICE);
  });
});
