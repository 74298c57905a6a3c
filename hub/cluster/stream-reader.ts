// What the rules leader reads: every node's forwarded journal (forwarder.ts), from given positions,
// one per node. The reader only reads: the leader saves the positions with the rules' state, in the
// same copy to Redis (state-mirror.ts), so a successor starts exactly where the state it takes over
// ends — an entry is applied once, across leaders.
import type { Redis } from 'ioredis';
import type { Entry } from '../domain/reading.ts';
import { streamKey } from './forwarder.ts';

export interface ForwardedEntry {
  lsn: number;
  entry: Entry;
}

export interface StreamReaderOptions {
  /** A connection of its own when `blockMs` is set: a blocking read holds it. */
  redis: Redis;
  /** Most entries per node per read. Default 500. */
  batch?: number;
  /** How long a read waits for news when there is none. Default: it does not wait. */
  blockMs?: number;
}

export class StreamReader {
  constructor(private readonly options: StreamReaderOptions) {}

  /**
   * The entries each node forwarded after its position (0: from its stream's start), in LSN order
   * per node; nodes with nothing new are left out.
   */
  async read(positions: ReadonlyMap<string, number>): Promise<Map<string, ForwardedEntry[]>> {
    const nodes = [...positions.keys()];
    const found = new Map<string, ForwardedEntry[]>();
    if (nodes.length === 0) return found;
    const { redis, batch = 500, blockMs } = this.options;
    const ids = nodes.map((n) => `${positions.get(n) ?? 0}-0`);
    const wait = blockMs === undefined ? [] : ['BLOCK', blockMs];
    const answer = (await redis.call('XREAD', 'COUNT', batch, ...wait, 'STREAMS', ...nodes.map(streamKey), ...ids)) as
      [string, [string, string[]][]][] | null;
    for (const [key, rows] of answer ?? []) {
      const node = nodes.find((n) => key.endsWith(streamKey(n)));
      if (node === undefined || rows.length === 0) continue;
      found.set(
        node,
        rows.map(([id, fields]) => ({
          lsn: Number(id.split('-')[0]),
          entry: JSON.parse(fields[1] ?? 'null') as Entry,
        })),
      );
    }
    return found;
  }
}
