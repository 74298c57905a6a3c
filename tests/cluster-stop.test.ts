// A hub that follows the rules leader stops cleanly while copies of the rules' state keep
// arriving: a copy read after the hub let go of Redis is not applied to a closed replica.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { capturedLog, eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

interface ClusterCheck {
  leader: string | null;
  node: string;
}

describe('a following hub stopping under a stream of state copies', () => {
  const influxUrl = `${inject('influxUrl')}/cluster_stop_${Date.now()}`;
  let redis: RedisHandle;
  const hubs: TestHub[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const hub of hubs) await hub.dispose();
    await redis.dispose();
  });

  it('stops without touching its closed replica, and says nothing failed', async () => {
    const logs = new Map<string, ReturnType<typeof capturedLog>>();
    for (const node of ['node-a', 'node-b']) {
      const log = capturedLog('warn');
      logs.set(node, log);
      hubs.push(
        await startTestHub({
          log: log.log,
          influxUrl,
          config: { cluster: { redis_url: redis.url, node_id: node, lease_ms: 1000 } },
        }),
      );
    }
    const check = async (hub: TestHub) =>
      (await hub.json<{ checks: { cluster: ClusterCheck } }>('/api/v1/health')).checks.cluster;
    const leader = await eventually(async () => (await check(hubs[0]!)).leader ?? undefined, {
      what: 'a rules leader',
    });
    const follower = hubs[leader === 'node-a' ? 1 : 0]!;

    // Copies that apply (each the next version, changing nothing), as fast as Redis takes them.
    const publisher = new Redis(redis.url);
    let version = Number((await publisher.get('floorwatch:rules:state:version')) ?? 0);
    let publishing = true;
    let sent = 0;
    const copies = (async () => {
      while (publishing) {
        version += 1;
        await publisher.publish('floorwatch:rules:state', `${version} {"rows":[],"sequences":{}}`);
        sent += 1;
      }
    })();
    await eventually(() => sent > 200, { what: 'copies to flow' });
    await follower.stop();
    publishing = false;
    await copies;
    await publisher.quit();
    const followerNode = leader === 'node-a' ? 'node-b' : 'node-a';
    expect(logs.get(followerNode)!.text()).not.toMatch(/database connection is not open/);
  });
});
