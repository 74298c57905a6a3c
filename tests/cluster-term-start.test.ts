// A rules term that cannot start (its state in Redis cannot be read) gives the lease up rather than
// keep it, renewed with no rules running, so that no hub of the cluster would judge anything again:
// the hub asks for the lease again later, waiting longer after each failed start, and once the
// state can be read a term starts and alerts are raised. Against a real redis-server, whose
// state key is made of the wrong type to have every load fail.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { headsetHeartbeat as heartbeat } from './support/mqtt.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

describe('a rules term that cannot start', () => {
  let redis: RedisHandle;
  let raw: Redis;
  let hub: TestHub | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url, { keyPrefix: 'floorwatch:' });
  });
  afterAll(async () => {
    await hub?.dispose();
    raw.disconnect();
    await redis.dispose();
  });

  it('gives the lease up, asks again later, and leads once the state can be read', async () => {
    // A string key read as a hash, or here the reverse: every load of the state fails (WRONGTYPE).
    await raw.hset('rules:state:version', 'not', 'a version');
    hub = await startTestHub({
      influxUrl: `${inject('influxUrl')}/cluster_term_start`,
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        devices: [{ id: 'p-1', kind: 'headset', zone: 'floor-a' }],
        cluster: { redis_url: redis.url, node_id: 'node-a', lease_ms: 1000 },
      },
    });
    const term = async () => Number((await raw.get('rules:term')) ?? 0);
    // Each failed term gives the lease up, and the next is a new term: before, term 1 was renewed for ever.
    await eventually(async () => (await term()) >= 3, { what: 'a third term', timeoutMs: 20_000 });
    // Health says why no hub leads, and that what this hub shows of the alerts may be out of date.
    const cluster = async () =>
      (await hub!.json<{ checks: { cluster: { ok: boolean; detail: string } } }>('/api/v1/health')).checks.cluster;
    // Between two failed terms: a report made during one names this hub as leader for a moment.
    const check = await eventually(
      async () => {
        const c = await cluster();
        return c.detail.includes("this hub's last term could not start: WRONGTYPE") && c;
      },
      { what: 'health to say why no hub leads' },
    );
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(
      /^node node-a of 1; no hub runs the rules at the moment \(a leader is being elected\); this hub's last term could not start: WRONGTYPE .*; this hub's copy of the rules' state could not be read \(WRONGTYPE [^)]*\): its alerts may be out of date$/,
    );

    await raw.del('rules:state:version');
    await heartbeat(hub.mqttUrl, 'p-1', 'fault');
    await eventually(
      async () =>
        (await hub!.json<{ alerts: Array<{ key: string }> }>('/api/v1/alerts?state=firing')).alerts.some(
          (a) => a.key === 'equipment.headset.p-1',
        ),
      { what: 'the alert of p-1', timeoutMs: 30_000 },
    );
    expect(await raw.get('rules:lease')).toMatch(/^node-a:\d+$/);
    // Its report says so at the next beat.
    await eventually(async () => (await cluster()).detail === 'node node-a of 1; node-a runs the rules', {
      what: 'health to name the leader',
    });
  }, 60_000);
});
