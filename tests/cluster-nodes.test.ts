// A hub gone from a cluster for good is forgotten, on a real redis-server: once it has been silent
// past cluster.forget_node_after and the rules have read (and saved) all it forwarded, its report
// and stream go, in one step that a hub reporting or forwarding meanwhile survives. A hub of the
// cluster forgets a gone one this way while it runs the rules.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { EntryForwarder, streamKey } from '../hub/cluster/forwarder.ts';
import { ClusterNodes, type NodeReport } from '../hub/cluster/nodes.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { range, reading } from './support/journal.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

const NOW = Date.now();
const HOUR = 3_600_000;

let server: RedisHandle;
let redis: Redis;

const report = (node: string, at: number): NodeReport => ({
  node,
  at,
  leads: false,
  journalLsn: 0,
  forwardedLsn: 0,
  forwardingBehindMs: 0,
});

async function forward(client: Redis, node: string, from: number, to: number): Promise<void> {
  const forwarder = new EntryForwarder({ redis: client, node, maxEntries: 100_000 });
  await forwarder.forward(
    range(from, to).map((i) => reading(i)),
    to,
  );
}

const names = async () => (await redis.hkeys('nodes')).sort();
const streamExists = async (node: string) => (await redis.exists(streamKey(node))) === 1;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { keyPrefix: 'fw:' });
});
afterEach(async () => {
  await redis.flushall();
});
afterAll(async () => {
  redis.disconnect();
  await server.dispose();
});

describe('forgetting the hubs that are gone', () => {
  it('forgets a silent hub only once the positions saved for it reach the end of its stream', async () => {
    const nodes = new ClusterNodes(redis);
    await nodes.report(report('node-a', NOW));
    await nodes.report(report('constructor', NOW - 2 * HOUR));
    await nodes.report(report('node-c', NOW - 2 * HOUR));
    await nodes.report(report('node-e', NOW - 2 * HOUR));
    await forward(redis, 'node-c', 1, 10);
    const saved = new Map([
      ['node-a', 0],
      ['constructor', 0],
      ['node-c', 5],
    ]);

    expect(await nodes.forgetSilent(NOW - HOUR, saved)).toEqual(['constructor']);
    // node-c's entries 6–10 are unread; node-e has no saved position; node-a reports.
    expect(await names()).toEqual(['node-a', 'node-c', 'node-e']);
    expect(await nodes.known()).toEqual(expect.arrayContaining(['node-a', 'node-c', 'node-e']));

    saved.set('node-c', 10);
    expect(await nodes.forgetSilent(NOW - HOUR, saved)).toEqual(['node-c']);
    expect(await names()).toEqual(['node-a', 'node-e']);
    expect(await streamExists('node-c')).toBe(false);
    expect((await nodes.known()).sort()).toEqual(['node-a', 'node-e']);
  });

  it('keeps a hub that reported, or forwarded, after the list was read', async () => {
    await redis.hset('nodes', 'node-b', JSON.stringify(report('node-b', NOW)));
    await redis.hset('nodes', 'node-c', JSON.stringify(report('node-c', NOW - 2 * HOUR)));
    await forward(redis, 'node-c', 1, 3);
    // The list as it was a moment before: both silent.
    const stale = new (class extends ClusterNodes {
      override async list(): Promise<NodeReport[]> {
        return [report('node-b', NOW - 2 * HOUR), report('node-c', NOW - 2 * HOUR)];
      }
    })(redis);
    const saved = new Map([
      ['node-b', 0],
      ['node-c', 2],
    ]);
    expect(await stale.forgetSilent(NOW - HOUR, saved)).toEqual([]);
    expect(await names()).toEqual(['node-b', 'node-c']);
    expect(await streamExists('node-c')).toBe(true);
  });

  it('drops a forgotten hub from positions read from, not one whose stream came before its first report', async () => {
    const nodes = new ClusterNodes(redis);
    await nodes.report(report('node-a', NOW));
    await forward(redis, 'node-new', 1, 1);
    const positions = new Map([
      ['node-a', 4],
      ['gone', 7],
      ['node-new', 0],
    ]);
    await nodes.dropForgotten(positions);
    expect([...positions]).toEqual([
      ['node-a', 4],
      ['node-new', 0],
    ]);
  });
});

describe('a hub running the rules', () => {
  let hub: TestHub | undefined;
  afterAll(async () => {
    await hub?.dispose();
  });

  it('forgets a hub silent past forget_node_after once the rules have read all it forwarded', async () => {
    const prefixed = new Redis(server.url, { keyPrefix: 'floorwatch:' });
    try {
      await prefixed.hset('nodes', 'gone-hub', JSON.stringify(report('gone-hub', Date.now() - 2 * 60_000)));
      await forward(prefixed, 'gone-hub', 1, 3);
      await prefixed.hset('nodes', 'paused-hub', JSON.stringify(report('paused-hub', Date.now())));
      hub = await startTestHub({
        influxUrl: `${inject('influxUrl')}/cluster_nodes`,
        config: {
          zones: [{ id: 'floor-1', type: 'call_floor' }],
          cluster: { redis_url: server.url, node_id: 'node-a', lease_ms: 1000, forget_node_after: '1m' },
        },
      });
      await eventually(async () => !(await prefixed.hexists('nodes', 'gone-hub')) || undefined, {
        what: 'the gone hub forgotten',
        timeoutMs: 30_000,
      });
      expect(await prefixed.exists(streamKey('gone-hub'))).toBe(0);
      // A hub silent for less than forget_node_after stays.
      expect((await prefixed.hkeys('nodes')).sort()).toEqual(['node-a', 'paused-hub']);
      const health = await hub.json<{ checks: { cluster: { nodes: { node: string }[] } } }>('/api/v1/health');
      expect(health.checks.cluster.nodes.map((n) => n.node)).toEqual(['node-a', 'paused-hub']);
    } finally {
      prefixed.disconnect();
    }
  });
});
