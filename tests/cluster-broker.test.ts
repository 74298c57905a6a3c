// Hubs that share one Redis act as one broker: a message published on one reaches subscribers on
// the others, a retained device birth outlives a hub's restart, and a client id that connects to a
// second hub takes over from the first.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, loadConfig } from '../hub/config/config.ts';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { eventually, startTestHub, tempDir, testEnv, type TestHub } from './support/hub.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

let redis: RedisHandle;
let influxUrl: string;
const hubs: TestHub[] = [];
const clients: MqttClient[] = [];

async function node(name: string, dataDir?: string, cluster: Record<string, unknown> = {}): Promise<TestHub> {
  const hub = await startTestHub({
    influxUrl,
    ...(dataDir !== undefined && { dataDir }),
    config: { cluster: { redis_url: redis.url, node_id: name, prefix: 'test-cluster', ...cluster } },
  });
  hubs.push(hub);
  return hub;
}

async function client(hub: TestHub, clientId: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(hub.mqttUrl, { clientId, reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

/** Messages a client receives, as topic=payload. */
function received(c: MqttClient): string[] {
  const seen: string[] = [];
  c.on('message', (topic, payload) => seen.push(`${topic}=${payload.toString()}`));
  return seen;
}

beforeAll(async () => {
  redis = await startRedis();
  influxUrl = `${inject('influxUrl')}/cluster_${Date.now()}`;
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const h of hubs.splice(0)) await h.dispose();
});
afterAll(async () => {
  await redis.dispose();
});

describe('hubs sharing one Redis', () => {
  it("deliver a device's message published on one hub to a subscriber on another", async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const watcher = await client(b, 'watcher');
    const seen = received(watcher);
    await watcher.subscribeAsync('floorwatch/devices/+/telemetry', { qos: 1 });
    const device = await client(a, 't-1');
    await eventually(
      async () => {
        await device.publishAsync('floorwatch/devices/t-1/telemetry', '{"temperature":22.5}', { qos: 1 });
        return seen.length > 0 || undefined;
      },
      { what: 'the message on hub b' },
    );
    expect(seen[0]).toBe('floorwatch/devices/t-1/telemetry={"temperature":22.5}');
  });

  it("keep a device's retained birth across a hub's restart", async () => {
    const dataDir = tempDir();
    const a = await node('node-a', dataDir);
    const device = await client(a, 'p-7');
    await device.publishAsync('floorwatch/devices/p-7/status', 'online', { qos: 1, retain: true });
    await device.endAsync();
    await a.stop();
    const again = await node('node-a', dataDir);
    const watcher = await client(again, 'watcher');
    const seen = received(watcher);
    await watcher.subscribeAsync('floorwatch/devices/p-7/status', { qos: 1 });
    await eventually(() => seen.length > 0 || undefined, { what: 'the retained birth' });
    expect(seen).toEqual(['floorwatch/devices/p-7/status=online']);
  });

  it('let a client id that connects to a second hub take over from the first', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const first = await client(a, 'phone-12');
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    await client(b, 'phone-12');
    await closed;
    expect(first.connected).toBe(false);
  });
});

describe('a cluster configuration', () => {
  it('is refused without InfluxDB, saying why', () => {
    const env = testEnv(tempDir(), { config: { cluster: { redis_url: 'redis://127.0.0.1:6379' } } });
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(/cluster\.redis_url.*a cluster stores readings in InfluxDB/s);
  });

  it('names a Redis URL that is not one', () => {
    const env = testEnv(tempDir(), { config: { cluster: { redis_url: 'http://cache:6379' } } });
    expect(() => loadConfig({ env })).toThrow(
      /cluster\.redis_url.*must be a Redis URL such as redis:\/\/127\.0\.0\.1:6379/s,
    );
  });

  it('drops the will a dead hub left for a device connected again elsewhere, and publishes one whose device did not come back', async () => {
    // The wills a hub that died left in Redis, laid out as aedes-persistence-redis stores them.
    const conn = new Redis(redis.url, { keyPrefix: 'test-cluster:' });
    const require = createRequire(createRequire(import.meta.url).resolve('aedes-persistence-redis'));
    const msgpack = require('msgpack-lite') as { encode(value: unknown): Buffer };
    for (const id of ['t-1', 't-2']) {
      const packet = {
        topic: `floorwatch/devices/${id}/status`,
        payload: Buffer.from('offline'),
        qos: 1,
        retain: true,
      };
      await conn.set(`will:dead-hub:${id}`, msgpack.encode({ ...packet, clientId: id, brokerId: 'dead-hub' }));
      await conn.rpush('will', `will:dead-hub:${id}`);
    }
    const b = await node('node-b', undefined, { broker_heartbeat: '250ms' });
    const watcher = await client(b, 'watcher');
    const seen = received(watcher);
    await watcher.subscribeAsync('floorwatch/devices/+/status', { qos: 1 });
    // t-1 is back, on this hub; t-2 is not.
    const device = await mqtt.connectAsync(b.mqttUrl, {
      clientId: 't-1',
      reconnectPeriod: 0,
      will: { topic: 'floorwatch/devices/t-1/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    clients.push(device);
    await device.publishAsync('floorwatch/devices/t-1/status', 'online', { qos: 1, retain: true });

    await eventually(() => seen.includes('floorwatch/devices/t-2/status=offline'), { what: "t-2's will" });
    await eventually(async () => (await conn.exists('will:dead-hub:t-1')) === 0, { what: "t-1's stale will to go" });
    expect(seen.filter((m) => m.startsWith('floorwatch/devices/t-1/'))).toEqual([
      'floorwatch/devices/t-1/status=online',
    ]);
    const later = await client(b, 'later');
    const retained = received(later);
    await later.subscribeAsync('floorwatch/devices/t-1/status', { qos: 1 });
    await eventually(() => retained.length > 0, { what: "t-1's retained status" });
    expect(retained).toEqual(['floorwatch/devices/t-1/status=online']);
    conn.disconnect();
  });
});
