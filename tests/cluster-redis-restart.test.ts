// A hub of a cluster whose Redis is stopped (connections refused, not merely silent) and started
// again: the hub process stays up through it, devices with a last will leaving and connecting
// meanwhile included (one with a clean session is let in), says in its health that Redis is unreachable, and once Redis is back leads the rules
// again and raises an alert from a new reading. Before, the first connection error ended the hub.
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { within } from '../hub/domain/deadline.ts';
import { eventually, spawnHub, tempDir, type HubProcess } from './support/hub.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

interface ClusterCheck {
  ok: boolean;
  detail: string;
  leader: string | null;
}

/** A step with no deadline of its own (a CONNACK, SUBACK or PUBACK): one that hangs says which it is. */
async function step<T>(what: string, work: Promise<T>, ms = 20_000): Promise<T> {
  if (!(await within(work, ms))) throw new Error(`${what}: no answer within ${ms} ms`);
  return work;
}

describe('a hub of a cluster whose Redis restarts', () => {
  let redis: RedisHandle;
  let hub: HubProcess;
  const dir = tempDir('floorwatch-redis-restart-');

  beforeAll(async () => {
    redis = await startRedis();
    hub = await spawnHub(dir, {
      influxUrl: `${inject('influxUrl')}/cluster_restart_${Date.now()}`,
      logLevel: 'warn',
      config: {
        zones: [{ id: 'server-room', type: 'server_room', rules: { temperature: { for: '0s' } } }],
        devices: [{ id: 't-rack', kind: 'sensor', zone: 'server-room' }],
        cluster: { lease_ms: 1000 },
      },
      env: { FLOORWATCH_REDIS_URL: redis.url, FLOORWATCH_NODE_ID: 'node-a' },
    });
  });
  afterAll(async () => {
    if (hub?.child.exitCode === null && hub.child.signalCode === null) {
      hub.child.kill('SIGTERM');
      await hub.exited;
    }
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const cluster = async (): Promise<ClusterCheck> => {
    const res = await fetch(`${hub.url}/api/v1/health`);
    return ((await res.json()) as { checks: { cluster: ClusterCheck } }).checks.cluster;
  };
  const running = () => hub.child.exitCode === null && hub.child.signalCode === null;

  it('stays up, says Redis is unreachable, and leads the rules again once it is back', async () => {
    onTestFailed(() => console.error(`the hub's log, its end:\n${hub.output().slice(-6000)}`));
    await eventually(async () => (await cluster()).leader === 'node-a', { what: 'the hub to lead the rules' });
    const will = {
      topic: 'floorwatch/devices/hs-1/status',
      payload: Buffer.from('offline'),
      qos: 1 as const,
      retain: true,
    };
    const headset = await step(
      'the headset connecting',
      mqtt.connectAsync(hub.mqttUrl, { clientId: 'hs-1', will, reconnectPeriod: 0 }),
    );
    await step(
      'the headset saying it is online',
      headset.publishAsync('floorwatch/devices/hs-1/status', 'online', { qos: 1, retain: true }),
    );

    await step('Redis stopping', redis.stop());
    await eventually(async () => (await cluster()).detail.includes('unreachable'), {
      what: 'health to say Redis is unreachable',
    });
    // A device with a last will leaves while Redis refuses connections: its will is dropped from
    // Redis, a command that fails now.
    headset.stream.destroy();
    await eventually(
      async () => {
        const res = await fetch(`${hub.url}/api/v1/devices/hs-1`);
        return !((await res.json()) as { online: boolean }).online;
      },
      { what: "the headset's will taken in: it is offline" },
    );
    // And one connects meanwhile with a clean session: it is let in and heard, and its will is
    // written to Redis once Redis is back.
    const late = await step(
      'the late headset connecting',
      mqtt.connectAsync(hub.mqttUrl, {
        clientId: 'hs-3',
        will: { ...will, topic: 'floorwatch/devices/hs-3/status' },
        reconnectPeriod: 0,
      }),
    );
    await step(
      'the late headset publishing',
      late.publishAsync('floorwatch/devices/hs-3/telemetry', JSON.stringify({ noise_laeq: 52 }), { qos: 1 }),
    );
    // One that asks for a persistent session needs what Redis keeps of it: refused, to try again later.
    const kept = mqtt.connect(hub.mqttUrl, { clientId: 'hs-4', clean: false, reconnectPeriod: 0 });
    kept.on('error', () => undefined);
    const outcome = await step(
      'the headset with a persistent session connecting or closed',
      new Promise<string>((resolve) => {
        kept.once('connect', () => resolve('let in'));
        kept.once('close', () => resolve('closed, to try again later'));
      }),
    );
    kept.end(true);
    expect(outcome).toBe('closed, to try again later');
    expect((await cluster()).detail).toContain('unreachable');
    expect(running()).toBe(true);

    await step('Redis starting', redis.start());
    await eventually(async () => (await cluster()).ok, { what: 'the cluster healthy again', timeoutMs: 20_000 });
    const probe = new Redis(redis.url);
    try {
      await eventually(async () => (await probe.keys('*will:*:hs-3')).length === 1, {
        what: "the late headset's will in Redis",
      });
    } finally {
      probe.disconnect();
    }
    await late.endAsync();
    const watch = await step(
      'the watcher connecting',
      mqtt.connectAsync(hub.mqttUrl, { clientId: 'watch', reconnectPeriod: 0 }),
    );
    const alerts: string[] = [];
    watch.on('message', (topic, payload) => {
      if (payload.length > 0) alerts.push(`${(JSON.parse(payload.toString()) as { event: string }).event} ${topic}`);
    });
    await step('the watcher subscribing', watch.subscribeAsync('floorwatch/alerts/#', { qos: 1 }));
    const device = await step(
      'the rack sensor connecting',
      mqtt.connectAsync(hub.mqttUrl, { clientId: 't-rack', reconnectPeriod: 0 }),
    );
    await step(
      'the rack sensor publishing',
      device.publishAsync('floorwatch/devices/t-rack/telemetry', JSON.stringify({ temperature: 38 }), { qos: 1 }),
    );
    await eventually(() => alerts.some((a) => a.startsWith('firing') && a.endsWith('.t-rack')), {
      what: 'the server room too hot, judged by the hub leading again',
      timeoutMs: 20_000,
    });
    await device.endAsync();
    await watch.endAsync();
    expect(running()).toBe(true);
  }, 90_000);
});
