// What a hub of a cluster says of the cluster in its health (pure): Redis unreachable, a leader
// whose report is stale, and what keeps this hub from leading or from showing alerts as they are.
import { describe, expect, it } from 'vitest';
import { clusterCheck, type ClusterCheckParts } from '../hub/cluster/health.ts';
import type { NodeReport } from '../hub/cluster/nodes.ts';

const NOW = 1_800_000_000_000;

const report = (node: string, leads: boolean, ageMs: number): NodeReport => ({
  node,
  at: NOW - ageMs,
  leads,
  journalLsn: 10,
  forwardedLsn: 10,
  forwardingBehindMs: 0,
});

const parts = (reports: NodeReport[] | Error, more: Partial<ClusterCheckParts> = {}): ClusterCheckParts => ({
  node: 'a',
  redisUrl: 'redis://127.0.0.1:6379',
  redisError: undefined,
  nodes: { list: async () => (reports instanceof Error ? Promise.reject(reports) : reports) },
  reportFreshMs: 5_000,
  now: NOW,
  startProblem: undefined,
  copyProblem: undefined,
  ...more,
});

describe('the cluster check in a hub’s health', () => {
  it('is ok with a fresh leader, and names it', async () => {
    const nodes = [report('a', false, 100), report('b', true, 4_999)];
    const check = await clusterCheck(parts(nodes, { startProblem: 'the lease was taken' }));
    expect(check).toEqual({ ok: true, detail: 'node a of 2; b runs the rules', node: 'a', leader: 'b', nodes });
  });

  it('is not ok when the leader’s report is stale, and says why this hub could not lead', async () => {
    const check = await clusterCheck(
      parts([report('a', false, 0), report('b', true, 5_000)], { startProblem: 'the lease was taken' }),
    );
    expect(check.ok).toBe(false);
    expect(check.leader).toBeNull();
    expect(check.detail).toBe(
      "node a of 2; no hub runs the rules at the moment (a leader is being elected); this hub's last term could not start: the lease was taken",
    );
  });

  it('is not ok while this hub’s copy of the rules’ state cannot be read, leader or not', async () => {
    const check = await clusterCheck(parts([report('b', true, 0)], { copyProblem: 'WRONGTYPE' }));
    expect(check.ok).toBe(false);
    expect(check.leader).toBe('b');
    expect(check.detail).toContain("this hub's copy of the rules' state could not be read (WRONGTYPE)");
  });

  it('says Redis is unreachable, with its last error, when the hubs cannot be listed', async () => {
    const check = await clusterCheck(parts(new Error('ECONNREFUSED'), { redisError: 'connect ECONNREFUSED' }));
    expect(check).toEqual({
      ok: false,
      detail:
        "Redis at redis://127.0.0.1:6379 is unreachable: readings are kept in this hub's journal (up to cluster.max_behind entries) and forwarded when it answers (connect ECONNREFUSED)",
      node: 'a',
      leader: null,
      nodes: [],
    });
  });
});
