// The hubs of a cluster, as each reports itself every second: for health on every hub, and so the
// rules leader knows whose forwarded journals to read (a hub that is down keeps its place: its
// stream may still hold entries, and it comes back under the same name).
import type { Redis } from 'ioredis';
import { jsonObject } from '../domain/json-text.ts';

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

export class ClusterNodes {
  private names: { at: number; list: string[] } | undefined;

  constructor(private readonly redis: Redis) {}

  /** The names of every hub that ever reported, read from Redis at most every few seconds: loops ask often. */
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

  /** Every hub that ever reported, by name; a report that is not one (damaged, another release's) is left out. */
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
