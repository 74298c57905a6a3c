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
/** Each hub's report time as the rules leaders last saw it, and since when (by their clocks) it has not changed. */
const UNCHANGED_KEY = 'nodes:unchanged';

/** How long the names of the hubs are taken as known before Redis is asked again. */
const NAMES_KEPT_MS = 5000;

/**
 * Removes a hub's report, stream and what was seen of it (KEYS) if its report still says ARGV[2] (its time, unchanged)
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
redis.call('HDEL', KEYS[3], ARGV[1])
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
    const done = await this.redis.eval(
      FORGET_IF_UNCHANGED,
      3,
      NODES_KEY,
      streamKey(node),
      UNCHANGED_KEY,
      node,
      at,
      through,
    );
    if (done !== 1) return false;
    this.names = undefined;
    return true;
  }

  /**
   * Each hub's report time as the rules leaders last saw it, and since when it has not changed:
   * kept in Redis, so the count goes on across leaders. A record of another shape is left out.
   */
  async unchanged(): Promise<Map<string, { at: number; since: number }>> {
    const seen = new Map<string, { at: number; since: number }>();
    for (const [node, json] of Object.entries(await this.redis.hgetall(UNCHANGED_KEY))) {
      const v = jsonObject(json);
      if (typeof v?.at === 'number' && typeof v.since === 'number') seen.set(node, { at: v.at, since: v.since });
    }
    return seen;
  }

  /** Hubs whose reports carry a time first seen now: each report's time, first seen at `since`. One write. */
  async sawReports(reports: ReadonlyMap<string, number>, since: number): Promise<void> {
    if (reports.size === 0) return;
    const fields = [...reports].flatMap(([node, at]) => [node, JSON.stringify({ at, since })]);
    await this.redis.hset(UNCHANGED_KEY, ...fields);
  }

  /** What was seen of hubs no longer listed goes, a record of another shape too. */
  async forgetSeenExcept(listed: ReadonlySet<string>): Promise<void> {
    const gone = (await this.redis.hkeys(UNCHANGED_KEY)).filter((node) => !listed.has(node));
    if (gone.length > 0) await this.redis.hdel(UNCHANGED_KEY, ...gone);
  }

  /** Drops from `positions` the hubs that are no longer known and whose stream is gone too (forgotten ones); returns them. */
  async dropForgotten(positions: Map<string, number>): Promise<string[]> {
    const known = new Set(await this.known());
    const dropped: string[] = [];
    for (const name of [...positions.keys()])
      if (!known.has(name) && (await this.redis.exists(streamKey(name))) === 0) {
        positions.delete(name);
        dropped.push(name);
      }
    return dropped;
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
 * The rules leader's look for silent hubs, at most every 10 s. Silent is judged on the leaders'
 * clocks, by how long a hub's report has not changed (kept in Redis, so a new leader goes on
 * counting), never by the time it carries: a live hub whose clock is behind must not be taken as gone. A hub is forgotten by the positions saved with
 * the rules' state, and the forgotten are dropped from the positions the leader reads from.
 */
export class SilentHubs {
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

  /** `saved`: the positions saved with the rules' state, read only when it is time to look. */
  async look(saved: () => ReadonlyMap<string, number>, positions: Map<string, number>): Promise<void> {
    const { nodes, now, log, after } = this.p;
    if (now() - this.checkedAt < FORGET_CHECK_MS) return;
    this.checkedAt = now();
    const seenBefore = await nodes.unchanged();
    const savedPositions = saved();
    const listed = new Set<string>();
    const changed = new Map<string, number>();
    for (const { node, at } of await nodes.list()) {
      listed.add(node);
      const seen = seenBefore.get(node);
      if (seen?.at !== at) {
        changed.set(node, at);
        continue;
      }
      const through = savedPositions.get(node);
      if (this.checkedAt - seen.since < this.afterMs || through === undefined) continue;
      if (!(await nodes.forgetIfUnchanged(node, at, through))) continue;
      listed.delete(node);
      log.info(
        { node },
        `hub ${node} has not reported for ${after} and the rules have read all it forwarded: it is no longer a node of the cluster (started again, it joins as new)`,
      );
    }
    await nodes.sawReports(changed, this.checkedAt);
    await nodes.forgetSeenExcept(listed);
    await nodes.dropForgotten(positions);
  }
}
