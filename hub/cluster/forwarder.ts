// A node's journal, forwarded to Redis for the rules leader: one more journal consumer, which adds
// each durable entry to this node's stream (`entries:<node>`) under the ID `<lsn>-0`. Redis refuses
// an ID at or below the stream's last one, so an entry handed over again after a crash or a Redis
// outage is recognised and skipped: forwarding is idempotent, whatever the consumer's position.
// Any failure is Redis's state, never an entry's: the journal retries with backoff for as long as
// it lasts, and keeps the entries meanwhile (up to cluster.max_behind: compose/cluster-forwarding.ts).
import type { Redis } from 'ioredis';
import type { Entry } from '../domain/reading.ts';

export interface ForwarderOptions {
  redis: Redis;
  node: string;
  /**
   * Entries kept in this node's stream for a leader that has not read them; past it Redis drops
   * the oldest (approximately, in whole blocks). The readings themselves are stored locally.
   */
  maxEntries: number;
}

/** Redis's answer to an XADD whose ID is not above the stream's last one. */
const ALREADY_FORWARDED = /equal or smaller than the target stream top item/;

export function streamKey(node: string): string {
  return `entries:${node}`;
}

export class EntryForwarder {
  private readonly key: string;
  /** The last LSN this node's stream is known to hold. */
  private forwarded = 0;

  constructor(private readonly options: ForwarderOptions) {
    this.key = streamKey(options.node);
  }

  /** The journal consumer's handler: `entries` are consecutive and end at `lastLsn`. */
  readonly forward = async (entries: readonly Entry[], lastLsn: number): Promise<void> => {
    const first = lastLsn - entries.length + 1;
    const pipeline = this.options.redis.pipeline();
    entries.forEach((entry, i) => {
      const lsn = first + i;
      if (lsn <= this.forwarded) return;
      pipeline.xadd(this.key, 'MAXLEN', '~', this.options.maxEntries, `${lsn}-0`, 'entry', JSON.stringify(entry));
    });
    if (pipeline.length === 0) return;
    const answers = (await pipeline.exec()) ?? [];
    for (const [err] of answers) if (err && !ALREADY_FORWARDED.test(err.message)) throw err;
    this.forwarded = lastLsn;
  };

  /** The last LSN forwarded in this run; 0 before the first. */
  get lastForwarded(): number {
    return this.forwarded;
  }
}
