// A hub gone from a cluster for good is forgotten, on a real redis-server: once its report has not
// changed for cluster.forget_node_after on the leaders' clocks and the rules have read (and saved)
// all it forwarded, its report and stream go, in one step that a hub reporting or forwarding
// meanwhile survives. A hub of the cluster forgets a gone one this way while it runs the rules.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { streamKey } from '../hub/cluster/forwarder.ts';
import { ClusterNodes, SilentHubs, type NodeReport } from '../hub/cluster/nodes.ts';
import { capturedLog, eventually, startTestHub, type TestHub } from './support/hub.ts';
import { forwardReadings, redisForTests } from './support/redis.ts';

const NOW = Date.now();
const HOUR = 3_600_000;

const { server, redis } = await redisForTests();

const report = (node: string, at: number): NodeReport => ({
  node,
  at,
  leads: false,
  journalLsn: 0,
  forwardedLsn: 0,
  forwardingBehindMs: 0,
});

const names = async () => (await redis.hkeys('nodes')).sort();
const streamExists = async (node: string) => (await redis.exists(streamKey(node))) === 1;

describe('forgetting the hubs that are gone', () => {
  /** The leaders' looks, on a clock the test moves; what they logged. Each look is a new leader's when `newLeader`. */
  const looking = (nodes: ClusterNodes, newLeader = false) => {
    const clock = { t: NOW };
    const { log, lines } = capturedLog();
    const leader = () => new SilentHubs({ nodes, after: '1h', now: () => clock.t, log });
    let silent = leader();
    const look = (saved: Map<string, number>) => {
      if (newLeader) silent = leader();
      return silent.look(() => saved, new Map(saved));
    };
    return { clock, lines, look };
  };

  it('forgets a hub whose report has not changed for forget_node_after, once the positions saved for it reach the end of its stream, whichever hub leads meanwhile', async () => {
    const nodes = new ClusterNodes(redis);
    const { clock, lines, look } = looking(nodes, true);
    await nodes.report(report('node-a', NOW));
    for (const node of ['constructor', 'node-c', 'node-e']) await nodes.report(report(node, NOW - 2 * HOUR));
    await forwardReadings(redis, 'node-c', 1, 10);
    const saved = new Map([
      ['node-a', 0],
      ['constructor', 0],
      ['node-c', 5],
    ]);

    // A record of another shape (another release's, damaged) among what was seen.
    await redis.hset('nodes:unchanged', 'toString', 'not a record');
    // Silent is by this hub's clock from when it first saw the report: not yet.
    await look(saved);
    expect((await redis.hkeys('nodes:unchanged')).sort()).toEqual(['constructor', 'node-a', 'node-c', 'node-e']);
    expect(await names()).toEqual(['constructor', 'node-a', 'node-c', 'node-e']);
    clock.t += HOUR - 20_000;
    await nodes.report(report('node-a', clock.t));
    await look(saved);
    expect(await names()).toEqual(['constructor', 'node-a', 'node-c', 'node-e']);

    clock.t += 20_000;
    await nodes.report(report('node-a', clock.t));
    await look(saved);
    // node-c's entries 6–10 are unread; node-e has no saved position; node-a reports.
    expect(await names()).toEqual(['node-a', 'node-c', 'node-e']);
    expect(lines).toEqual([
      'hub constructor has not reported for 1h and the rules have read all it forwarded: it is no longer a node of the cluster (started again, it joins as new)',
    ]);
    expect((await nodes.known()).sort()).toEqual(['node-a', 'node-c', 'node-e']);

    saved.set('node-c', 10);
    clock.t += 10_000;
    await look(saved);
    expect(await names()).toEqual(['node-a', 'node-e']);
    expect(await streamExists('node-c')).toBe(false);
    expect((await nodes.known()).sort()).toEqual(['node-a', 'node-e']);
    // What was seen of the forgotten goes with them.
    expect([...(await nodes.unchanged()).keys()].sort()).toEqual(['node-a', 'node-e']);
  });

  it('keeps a live hub whose clock is far behind, and one that reported or forwarded after the list was read', async () => {
    const nodes = new ClusterNodes(redis);
    const { clock, look } = looking(nodes);
    // node-b's clock is a day behind, but it reports.
    await nodes.report(report('node-b', NOW - 24 * HOUR));
    await nodes.report(report('node-c', NOW - 2 * HOUR));
    const saved = new Map([
      ['node-b', 0],
      ['node-c', 0],
    ]);
    await look(saved);
    clock.t += 2 * HOUR;
    await nodes.report(report('node-b', NOW - 22 * HOUR));
    // node-c forwards just after its silence was judged, before it could be forgotten.
    await forwardReadings(redis, 'node-c', 1, 3);
    await look(saved);
    expect(await names()).toEqual(['node-b', 'node-c']);
    expect(await streamExists('node-c')).toBe(true);
    // Its report unchanged but its stream read through: forgotten. A report that changed meanwhile is not.
    await nodes.report(report('node-b', NOW - 21 * HOUR));
    expect(await nodes.forgetIfUnchanged('node-b', NOW - 22 * HOUR, 0)).toBe(false);
    expect(await nodes.forgetIfUnchanged('node-c', NOW - 2 * HOUR, 3)).toBe(true);
    expect(await names()).toEqual(['node-b']);
  });

  it('drops a forgotten hub from positions read from, not one whose stream came before its first report', async () => {
    const nodes = new ClusterNodes(redis);
    await nodes.report(report('node-a', NOW));
    await forwardReadings(redis, 'node-new', 1, 1);
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

  it('forgets a hub whose report has not changed for forget_node_after, once the rules have read all it forwarded', async () => {
    const prefixed = new Redis(server.url, { keyPrefix: 'floorwatch:' });
    // The hub's clock, moved on by the test: forget_node_after is at least a minute.
    let offset = 0;
    try {
      await prefixed.hset('nodes', 'gone-hub', JSON.stringify(report('gone-hub', Date.now() - 2 * 60_000)));
      await forwardReadings(prefixed, 'gone-hub', 1, 3);
      hub = await startTestHub({
        influxUrl: `${inject('influxUrl')}/cluster_nodes`,
        now: () => Date.now() + offset,
        config: {
          zones: [{ id: 'floor-1', type: 'call_floor' }],
          cluster: { redis_url: server.url, node_id: 'node-a', lease_ms: 1000, forget_node_after: '1m' },
        },
      });
      await eventually(
        async () => {
          offset += 30_000;
          return !(await prefixed.hexists('nodes', 'gone-hub')) || undefined;
        },
        { what: 'the gone hub forgotten', intervalMs: 200 },
      );
      expect(await prefixed.exists(streamKey('gone-hub'))).toBe(0);
      // The hub that reports stays, its clock moved on as much.
      expect(await prefixed.hkeys('nodes')).toEqual(['node-a']);
      const health = await hub.json<{ checks: { cluster: { nodes: { node: string }[] } } }>('/api/v1/health');
      expect(health.checks.cluster.nodes.map((n) => n.node)).toEqual(['node-a']);
    } finally {
      prefixed.disconnect();
    }
  });
});
