// What the rules leader reads: every node's forwarded journal (forwarder.ts), from where the last
// leader left off. Its positions live in Redis, one per node, and are saved only by a write that
// names the leader's term (lease.ts): a leader that lost its lease cannot move them, so its
// successor starts where the last handled batch of the cluster's true leader ended. A batch handled
// but not yet saved when a leader stops is handed to the next one again (at least once).
import type { Redis } from 'ioredis';
import type { Entry } from '../domain/reading.ts';
import { FENCE_CHECK, FENCE_KEY } from './lease.ts';
import { streamKey } from './forwarder.ts';

export interface ForwardedEntry {
  lsn: number;
  entry: Entry;
}

export interface StreamReaderOptions {
  redis: Redis;
  /** The nodes whose streams are read. */
  nodes: readonly string[];
  /** The leader's term: positions are saved only while it is the latest. */
  token: number;
  /** Most entries per node per read. Default 500. */
  batch?: number;
  /** Handles one node's entries, in LSN order; a rejection stops the reader before the position moves. */
  handle: (node: string, entries: ForwardedEntry[]) => Promise<void> | void;
}

const POSITIONS_KEY = 'rules:positions';

/** Saves a node's position, unless a later term has begun. */
const SAVE = `${FENCE_CHECK}
return redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])`;

/** The positions the last leader saved, per node; 0 for a node not read yet. */
export async function savedPositions(redis: Redis, nodes: readonly string[]): Promise<Map<string, number>> {
  const values = nodes.length === 0 ? [] : await redis.hmget(POSITIONS_KEY, ...nodes);
  return new Map(nodes.map((node, i) => [node, Number(values[i] ?? 0)]));
}

export class StreamReader {
  private positions = new Map<string, number>();

  constructor(private readonly options: StreamReaderOptions) {}

  /** Reads what every node forwarded since the saved positions, handles it and saves the new positions. Returns how many entries it handled. */
  async readOnce(): Promise<number> {
    const { redis, nodes, token } = this.options;
    if (this.positions.size === 0) this.positions = await savedPositions(redis, nodes);
    const ids = nodes.map((n) => `${this.positions.get(n) ?? 0}-0`);
    const answer = await redis.xread('COUNT', this.options.batch ?? 500, 'STREAMS', ...nodes.map(streamKey), ...ids);
    let handled = 0;
    for (const [key, rows] of answer ?? []) {
      const node = nodes.find((n) => key.endsWith(streamKey(n)));
      if (node === undefined || rows.length === 0) continue;
      const entries = rows.map(([id, fields]): ForwardedEntry => ({
        lsn: Number(id.split('-')[0]),
        entry: JSON.parse(fields[1] ?? 'null') as Entry,
      }));
      await this.options.handle(node, entries);
      const last = entries.at(-1)?.lsn ?? 0;
      await redis.eval(SAVE, 2, FENCE_KEY, POSITIONS_KEY, token, node, last);
      this.positions.set(node, last);
      handled += entries.length;
    }
    return handled;
  }
}
