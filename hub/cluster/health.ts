// What a hub of a cluster says of the cluster in its health: whether Redis answers, which hub runs
// the rules, and what keeps this hub from leading, or from showing the cluster's alerts as they are.
import type { ClusterNodes, NodeReport } from './nodes.ts';

/** A type, not an interface: it goes into the health report as a check of its own shape. */
export type ClusterCheck = {
  ok: boolean;
  detail: string;
  node: string;
  leader: string | null;
  nodes: NodeReport[];
};

export interface ClusterCheckParts {
  node: string;
  redisUrl: string;
  /** The last error the Redis connections met, if any. */
  redisError: string | undefined;
  nodes: Pick<ClusterNodes, 'list'>;
  /** A report older than this is no longer a leader's. */
  reportFreshMs: number;
  now: number;
  /** Why this hub's last rules term could not start, while none has since. */
  startProblem: string | undefined;
  /** Why this hub's copy of the rules' state could not be read from Redis, until it is. */
  copyProblem: string | undefined;
}

export async function clusterCheck(p: ClusterCheckParts): Promise<ClusterCheck> {
  const all = await p.nodes.list().catch(() => undefined);
  const leader = all?.find((n) => n.leads && p.now - n.at < p.reportFreshMs);
  const found = { node: p.node, leader: leader?.node ?? null, nodes: all ?? [] };
  if (all === undefined)
    return {
      ok: false,
      detail: `Redis at ${p.redisUrl} is unreachable: readings are kept in this hub's journal (up to cluster.max_behind entries) and forwarded when it answers${p.redisError ? ` (${p.redisError})` : ''}`,
      ...found,
    };
  const notes = [
    leader ? `${leader.node} runs the rules` : 'no hub runs the rules at the moment (a leader is being elected)',
    ...(leader || p.startProblem === undefined ? [] : [`this hub's last term could not start: ${p.startProblem}`]),
    ...(p.copyProblem === undefined
      ? []
      : [`this hub's copy of the rules' state could not be read (${p.copyProblem}): its alerts may be out of date`]),
  ];
  return {
    ok: leader !== undefined && p.copyProblem === undefined,
    detail: `node ${p.node} of ${all.length}; ${notes.join('; ')}`,
    ...found,
  };
}
