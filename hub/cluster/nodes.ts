// The hubs of a cluster, as each reports itself every second: for health on every hub, and so the
// rules leader knows whose forwarded journals to read. A hub that is down keeps its place while its
// stream may still hold entries the rules have not read, or until it has been silent for
// cluster.forget_node_after: a hub gone for good (a replaced machine, a renamed node) must not stay
// in every health report, nor its stream in every read, for as long as the cluster runs.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ms } from '../config/duration.ts';
import { jsonObject } from '../domain/json-text.ts';
import { streamKey } from './forwarder.ts';

export interface NodeReport {
  node: string;
  /** When the hub last reported, by its own clock. */
  at: number;
  /** Whether it ran the rules when it reported. */
  leads: boolean;
  /** The last entry its journal holds, and the last it forwarded to Redis. */
  journalLsn: number;
  forwardedLsn: number;
  /** How far forwarding is behind the journal. */
  forwardingBehindMs: number;
}

const NODES_KEY = 'nodes';

/** How long the names of the hubs are taken as known before Redis is asked again. */
const NAMES_KEPT_MS = 5000;

/**
 * Removes a hub's report and stream (KEYS) if its report still says ARGV[2] (its time, unchanged)
 * and its stream holds nothing after LSN ARGV[3]: in one step, so a hub that reports or forwards
 * meanwhile stays. A report of another shape (another release's hub) is never taken as silent.
 */
const FORGET_IF_UNCHANGED = `
local report = redis.call('HGET', KEYS[1], ARGV[1])
if not report then return 0 end
local ok, parsed = pcall(cjson.decode, report)
if not ok or type(parsed) ~= 'table' or parsed.at ~= tonumber(ARGV[2]) then return 0 end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
if last and tonumber(string.match(last[1], '^%d+')) > tonumber(ARGV[3]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`;

export class ClusterNodes {
  private names: { at: number; list: string[] } | undefined;

  constructor(private readonly redis: Redis) {}

  /** The names of every hub that reported and is not forgotten, read from Redis at most every few seconds: loops ask often. */
  async known(): Promise<string[]> {
    const now = performance.now();
    if (this.names && now - this.names.at < NAMES_KEPT_MS) return this.names.list;
    const list = await this.redis.hkeys(NODES_KEY);
    this.names = { at: now, list };
    return list;
  }

  async report(report: NodeReport): Promise<void> {
    await this.redis.hset(NODES_KEY, report.node, JSON.stringify(report));
  }

  /**
   * Forgets a hub, if its report still carries the time `at` and its stream holds nothing after
   * `through`. One that starts again joins as a new hub, its stream read from its start.
   */
  async forgetIfUnchanged(node: string, at: number, through: number): Promise<boolean> {
    const done = await this.redis.eval(FORGET_IF_UNCHANGED, 2, NODES_KEY, streamKey(node), node, at, through);
    if (done !== 1) return false;
    this.names = undefined;
    return true;
  }

  /** Drops from `positions` the hubs that are no longer known and whose stream is gone too: forgotten ones. */
  async dropForgotten(positions: Map<string, number>): Promise<void> {
    const known = new Set(await this.known());
    for (const name of [...positions.keys()])
      if (!known.has(name) && (await this.redis.exists(streamKey(name))) === 0) positions.delete(name);
  }

  /** Every hub that reported and is not forgotten, by name; a report that is not one (damaged, another release's) is left out. */
  async list(): Promise<NodeReport[]> {
    const all = await this.redis.hgetall(NODES_KEY);
    return Object.entries(all)
      .flatMap(([name, json]) => {
        const report = jsonObject(json);
        return report?.node === name && typeof report.at === 'number' ? [report as unknown as NodeReport] : [];
      })
      .sort((a, b) => a.node.localeCompare(b.node));
  }
}

/** How often the rules leader looks for hubs silent past cluster.forget_node_after: a hash read. */
const FORGET_CHECK_MS = 10_000;

/**
 * The rules leader's look for silent hubs, at most every 10 s. Silent is judged on this hub's
 * clock, by how long a hub's report has not changed, never by the time it carries: a live hub
 * whose clock is behind must not be taken as gone. A hub is forgotten by the positions saved with
 * the rules' state, and the forgotten are dropped from the positions the leader reads from.
 */
export class SilentHubs {
  /** Each hub's report time as last seen, and since when (this hub's clock) it has not changed. */
  private readonly seen = new Map<string, { at: number; since: number }>();
  private checkedAt = -Infinity;
  private readonly afterMs: number;

  constructor(
    private readonly p: {
      nodes: ClusterNodes;
      /** cluster.forget_node_after, as configured. */
      after: string;
      now: () => number;
      log: Logger;
    },
  ) {
    this.afterMs = ms(p.after);
  }

  async look(saved: ReadonlyMap<string, number>, positions: Map<string, number>): Promise<void> {
    const { nodes, now, log, after } = this.p;
    if (now() - this.checkedAt < FORGET_CHECK_MS) return;
    this.checkedAt = now();
    const listed = new Set<string>();
    for (const { node, at } of await nodes.list()) {
      listed.add(node);
      const seen = this.seen.get(node);
      if (seen?.at !== at) {
        this.seen.set(node, { at, since: this.checkedAt });
        continue;
      }
      const through = saved.get(node);
      if (this.checkedAt - seen.since < this.afterMs || through === undefined) continue;
      if (!(await nodes.forgetIfUnchanged(node, at, through))) continue;
      listed.delete(node);
      log.info(
        { node },
        `hub ${node} has not reported for ${after} and the rules have read all it forwarded: it is no longer a node of the cluster (started again, it joins as new)`,
      );
    }
    for (const node of this.seen.keys()) if (!listed.has(node)) this.seen.delete(node);
    await nodes.dropForgotten(positions);
  }
}
