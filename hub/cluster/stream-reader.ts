// What the rules leader reads: every node's forwarded journal (forwarder.ts), from given positions,
// one per node. The reader only reads: the leader saves the positions with the rules' state, in the
// same copy to Redis (state-mirror.ts), so a successor starts exactly where the state it takes over
// ends — an entry is applied once, across leaders. An entry that is not one (damaged, or of a
// release that writes another shape) is passed over and told, never handed on: read again and
// again, it would hold every entry behind it, and with them the cluster's alerts.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { jsonObject } from '../domain/json-text.ts';
import { entryProblem, type Entry } from '../domain/reading.ts';
import { NoticeLog } from '../telemetry/notices.ts';
import { streamKey } from './forwarder.ts';

/**
 * A hub's positions as saved; a damaged one (never written so) reads its hub's stream from what
 * Redis holds rather than stop the rules: entries older than the state are judged as late.
 */
export const positionsIn = (mark: string | undefined): Map<string, number> =>
  new Map(
    Object.entries(jsonObject(mark ?? '{}') ?? {}).filter((p): p is [string, number] => Number.isSafeInteger(p[1])),
  );

/** The largest sequence part of a stream ID. */
const MAX_SEQUENCE = '18446744073709551615';

export interface ForwardedEntry {
  lsn: number;
  entry: Entry;
}

/** What one read found of a node's stream. */
export interface NodeEntries {
  entries: ForwardedEntry[];
  /** The last LSN read, a passed-over one included: where the node's position goes next. */
  through: number;
}

export interface StreamReaderOptions {
  /** A connection of its own when `blockMs` is set: a blocking read holds it. */
  redis: Redis;
  /** Most entries per node per read. Default 500. */
  batch?: number;
  /** How long a read waits for news when there is none. Default: it does not wait. */
  blockMs?: number;
  /** Told of each entry passed over: the node that forwarded it, its LSN, and why. */
  onMalformed?: (node: string, lsn: number, why: string) => void;
}

export class StreamReader {
  constructor(private readonly options: StreamReaderOptions) {}

  /**
   * The entries each node forwarded after its position (0: from its stream's start), in LSN order
   * per node; nodes with nothing new are left out.
   */
  async read(positions: ReadonlyMap<string, number>): Promise<Map<string, NodeEntries>> {
    const nodes = [...positions.keys()];
    const found = new Map<string, NodeEntries>();
    if (nodes.length === 0) return found;
    const { redis, batch = 500, blockMs } = this.options;
    // After every ID of the position's LSN: a row such as N-1 (not this hub's writing) is not read again and again.
    const ids = nodes.map((n) => `${positions.get(n) ?? 0}-${MAX_SEQUENCE}`);
    const wait = blockMs === undefined ? [] : ['BLOCK', blockMs];
    const answer = (await redis.call('XREAD', 'COUNT', batch, ...wait, 'STREAMS', ...nodes.map(streamKey), ...ids)) as
      [string, [string, string[]][]][] | null;
    for (const [key, rows] of answer ?? []) {
      const node = nodes.find((n) => key.endsWith(streamKey(n)));
      if (node === undefined || rows.length === 0) continue;
      const entries: ForwardedEntry[] = [];
      let through = 0;
      for (const [id, fields] of rows) {
        through = Number(id.split('-')[0]);
        const entry = this.parsed(node, through, fields[1]);
        if (entry !== undefined) entries.push({ lsn: through, entry });
      }
      found.set(node, { entries, through });
    }
    return found;
  }

  private parsed(node: string, lsn: number, text: string | undefined): Entry | undefined {
    const value = jsonObject(text ?? '');
    const problem = value === undefined ? 'is not a JSON object' : entryProblem(value);
    if (problem === undefined) return value as unknown as Entry;
    this.options.onMalformed?.(node, lsn, problem);
    return undefined;
  }
}

/** Tells of entries passed over: each counted, and one log line a minute per hub that forwarded them. */
export function passedOverReport(
  log: Logger,
  now: () => number,
  count?: () => void,
): NonNullable<StreamReaderOptions['onMalformed']> {
  const notices = new NoticeLog(log, now);
  return (node, lsn, why) => {
    count?.();
    notices.once(
      `passed-over:${node}`,
      `an entry hub ${node} forwarded through Redis (LSN ${lsn}) is not one: ${why}; passed over, the entries after it go on`,
    );
  };
}
