// The durable journal between ingest and its consumers. An append is acknowledged only once it is
// fsync'd (the log, segment-log.ts); each consumer (store writer, device registry, rule engine,
// live feed) reads it at its own pace (consumer.ts) from a position the journal keeps for it or it
// keeps itself (positions.ts); entries every consumer is past are removed.
//
// On disk, in `dir`: the segment files (format in segments.ts) and consumers/ (positions.ts).
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { within } from '../domain/deadline.ts';
import type { Entry } from '../domain/reading.ts';
import { systemClock, type Clock } from './clock.ts';
import { Consumer, type ConsumerHandler, type SetAsideRecorder } from './consumer.ts';
import { checkPacing, type PacingOptions } from './pacing.ts';
import type { EntryLog, LogStatus } from './entry-log.ts';
import { CONSUMER_NAME, Positions, type ConsumerPosition } from './positions.ts';
import { SegmentLog } from './segment-log.ts';
import { JournalError, type JournalLog } from './segments.ts';

export { JournalError, type JournalLog, type JournalLogLevel } from './segments.ts';
export { type ConsumerHandler, type SetAsideRecorder } from './consumer.ts';
export { isIoError } from './pacing.ts';
export { systemClock, type Clock } from './clock.ts';

const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
/** How long closing waits for consumers to finish what they hold. */
const CLOSE_WAIT_MS = 5_000;

export interface JournalOptions {
  dir: string;
  /** A new segment is started once the current one has reached this size. Default 16 MiB. */
  segmentBytes?: number;
  log?: JournalLog;
  /**
   * Default true. False writes without waiting for the disk, so an acknowledged append can be lost in a crash:
   * only for measuring what durability costs.
   */
  fsync?: boolean;
  /** Where entries a consumer gave up on are recorded; default: in memory, for this run only. */
  setAside?: SetAsideRecorder;
  /** When entries became durable, how far behind consumers are, and their waits. Default: the system clock. */
  clock?: Clock;
  /** Told how long each group's durable write took, as the hub's thread saw it, in seconds. */
  onFlushed?: (seconds: number) => void;
}

export interface ConsumeOptions extends PacingOptions {
  /** Where a consumer without a position starts. Default 'oldest'. */
  from?: 'oldest' | 'end';
  /**
   * Default true. False keeps the position in memory only, for live views: it never holds
   * entries back, and every start begins per `from`.
   */
  durable?: boolean;
  /**
   * For a consumer that saves its position with its own state: the last LSN whose effects it has
   * made durable. Delivery starts after it and, after any failure of the handler, resumes after
   * it, so the consumer must skip entries it had already applied; every entry after it is kept.
   * The journal saves no position for such a consumer, and `from` does not apply.
   */
  position?: () => number;
  /**
   * For a consumer whose work on some entries goes on after its handler resolved (the store
   * writer rolls minutes up once they close): the last LSN whose effects are all complete, or
   * undefined when nothing is outstanding. The saved position never passes it, so after a crash
   * those entries are handed over again.
   */
  holds?: () => number | undefined;
  /** Once the consumer has stopped, before its last position save: it finishes what it holds. */
  finish?: () => Promise<void>;
}

export interface ConsumerHandle {
  /**
   * The consumer's own state went back to its position (a failure outside the handler): hands
   * over again everything after it, from the next call on.
   */
  rewind(): void;
  /** Waits for the batch in hand, then commits the position. */
  stop(): Promise<void>;
}

export interface JournalRecord {
  lsn: number;
  entry: Entry;
}

export interface ConsumerStatus {
  name: string;
  committedLsn: number;
  /** Entries the consumer has not handled yet; for one not running, after its committed position. */
  lag: number;
  /** For a running consumer: how long ago the oldest entry it has not handled yet became durable, ms; 0 when caught up. */
  behindMs?: number;
}

export interface JournalStatus extends LogStatus {
  /** Running consumers, and those whose position is known from disk. */
  consumers: ConsumerStatus[];
}

class MemorySetAside implements SetAsideRecorder {
  private readonly byConsumer = new Map<string, Set<number>>();

  async entry(consumer: string, lsn: number): Promise<void> {
    let lsns = this.byConsumer.get(consumer);
    if (!lsns) {
      lsns = new Set();
      this.byConsumer.set(consumer, lsns);
    }
    lsns.add(lsn);
  }

  lsns(consumer: string): ReadonlySet<number> {
    return this.byConsumer.get(consumer) ?? new Set();
  }
}

export class Journal {
  private readonly active = new Map<string, Consumer>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private retention: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly log: EntryLog,
    private readonly positions: Positions,
    private readonly setAside: SetAsideRecorder,
    private readonly clock: Clock,
    private readonly report: JournalLog,
  ) {}

  static async open(opts: JournalOptions): Promise<Journal> {
    const dir = resolve(opts.dir);
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isInteger(segmentBytes) || segmentBytes <= 0) {
      throw new Error(`journal segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    const report: JournalLog = opts.log ?? (() => {});
    const clock = opts.clock ?? systemClock;
    const consumersDir = join(dir, 'consumers');
    await mkdir(consumersDir, { recursive: true });
    const positions = await Positions.open(consumersDir, report);
    // An empty journal continues after any position a consumer holds, so it never mistakes new entries for read ones.
    const log = await SegmentLog.open({
      dir,
      segmentBytes,
      fsync: opts.fsync ?? true,
      log: report,
      now: () => clock.now(),
      ...(opts.onFlushed && { onFlushed: opts.onFlushed }),
      firstLsn: positions.highest() + 1,
    });
    const status = log.status();
    report('info', 'journal opened', {
      dir,
      segments: status.segments,
      firstLsn: log.oldestLsn,
      lastLsn: status.durableLsn,
      consumers: positions.names(),
    });
    return new Journal(dir, log, positions, opts.setAside ?? new MemorySetAside(), clock, report);
  }

  /** Resolves with the LSN of the last entry once all of them are written and fsync'd. */
  append(entries: readonly Entry[]): Promise<number> {
    if (this.closed) return Promise.reject(new JournalError(`journal is closed (${this.dir})`));
    return this.log.append(entries);
  }

  status(): JournalStatus {
    const log = this.log.status();
    const committed = this.positions.known();
    for (const c of this.active.values()) committed.set(c.name, c.committed);
    const consumers = [...committed.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, committedLsn]): ConsumerStatus => {
        const running = this.active.get(name);
        return {
          name,
          committedLsn,
          lag: Math.max(0, log.durableLsn - (running?.handled ?? committedLsn)),
          ...(running && { behindMs: running.behindMs() }),
        };
      });
    return { ...log, consumers };
  }

  /**
   * Whether a running consumer is stuck rather than slow: its last batch failed and it is waiting
   * to try again, or its handler has been at one batch for longer than `ms`.
   */
  stuck(name: string, ms: number): boolean {
    return this.active.get(name)?.stuck(ms) ?? false;
  }

  /** How long ago the oldest entry this running consumer has not handled became durable, ms; 0 when caught up or not running. */
  behindMs(name: string): number {
    return this.active.get(name)?.behindMs() ?? 0;
  }

  /**
   * Starts delivering entries after the consumer's position (per `opts.from` when it has none),
   * then follows new durable appends.
   */
  consume(name: string, handler: ConsumerHandler, opts: ConsumeOptions = {}): ConsumerHandle {
    if (this.closed) throw new Error(`journal is closed (${this.dir})`);
    if (!CONSUMER_NAME.test(name)) {
      throw new Error(
        `consumer name ${JSON.stringify(name)} is invalid: lower-case letter first, then up to 31 of a-z, 0-9, '-'`,
      );
    }
    if (this.active.has(name)) throw new Error(`consumer ${name} is already running`);
    const pacing = checkPacing(opts);
    const fresh = opts.from === 'end' ? this.log.durableLsn : this.log.oldestLsn - 1;
    let position: ConsumerPosition;
    let start: number;
    let holds = true;
    // Registered before anything is awaited, so removal already accounts for it.
    if (opts.position) {
      start = this.startAt(name, opts.position());
      position = this.positions.keptByConsumer(name, opts.position);
    } else if (opts.durable === false) {
      start = fresh;
      position = this.positions.inMemory(start);
      holds = false;
    } else {
      const known = this.positions.saved(name);
      start = this.startAt(name, known ?? fresh);
      position = this.positions.keptByJournal(name, start, known === start, opts.holds);
    }
    const consumer = new Consumer(name, handler, position, start, pacing, {
      log: this.log,
      setAside: this.setAside,
      clock: this.clock,
      report: this.report,
      // A position in memory holds nothing back, so moving it frees nothing.
      committed: holds ? () => this.retain() : async () => undefined,
      ...(opts.finish && { finish: opts.finish }),
    });
    this.active.set(name, consumer);
    return { rewind: () => consumer.rewind(), stop: () => this.stopConsumer(consumer) };
  }

  /**
   * Forgets every consumer known from disk that is not running now. Called once every part of
   * the hub has started: one the configuration no longer runs (a bridge removed or renamed, the
   * rules of a hub that joined a cluster) would otherwise hold every entry after it for good, and
   * the disk would fill. Returns their names.
   */
  async forgetIdle(): Promise<string[]> {
    const idle = this.positions.names().filter((name) => !this.active.has(name));
    // None runs, so none is stopped; what they held goes in one pass, and the caller says which.
    for (const name of idle) await this.positions.forget(name);
    if (idle.length > 0) await this.retain();
    return idle;
  }

  /** Every retained durable entry from `fromLsn` on, up to the durable end at the time of the call. */
  async *readAll(fromLsn = 1): AsyncGenerator<JournalRecord, void, undefined> {
    const end = this.log.durableLsn;
    const reader = this.log.reader(fromLsn);
    try {
      while (reader.nextLsn <= end) {
        const batch = await reader.read(1000);
        if (!batch) return;
        let lsn = batch.lastLsn - batch.entries.length + 1;
        for (const entry of batch.entries) {
          if (lsn > end) return;
          yield { lsn, entry };
          lsn += 1;
        }
      }
    } finally {
      await reader.close();
    }
  }

  /**
   * Flushes pending appends, stops consumers (committing their positions) and closes files. A
   * consumer whose handler has not finished within CLOSE_WAIT_MS (a store that never answers) is
   * left, logged: its position stays where it was, so what it held is handed over again next start.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      const stopped = await within(
        Promise.all([...this.active.values()].map((c) => this.stopConsumer(c))),
        CLOSE_WAIT_MS,
        this.clock,
      );
      if (!stopped) {
        for (const c of this.active.values()) c.abandon();
        this.report(
          'warn',
          'journal: consumers still busy; closing without them, they start from their last position',
          {
            consumers: [...this.active.keys()],
          },
        );
      }
      await this.retention;
      await this.log.close();
      this.report('info', 'journal closed', { dir: this.dir, durableLsn: this.log.durableLsn });
    })();
    return this.closing;
  }

  /** A consumer's position, within what the journal holds. */
  private startAt(name: string, position: number): number {
    const oldestLsn = this.log.oldestLsn;
    const durableLsn = this.log.durableLsn;
    if (position > durableLsn) {
      this.report('warn', 'journal: consumer position is past the end of the journal; starting at the end', {
        consumer: name,
        position,
        durableLsn,
      });
      return durableLsn;
    }
    if (position < oldestLsn - 1) {
      this.report(
        'warn',
        'journal: entries this consumer has not read are no longer retained; starting at the oldest',
        { consumer: name, position, oldestLsn, lost: oldestLsn - 1 - position },
      );
      return oldestLsn - 1;
    }
    return position;
  }

  private async stopConsumer(c: Consumer): Promise<void> {
    await c.stop();
    if (this.active.get(c.name) === c) this.active.delete(c.name);
  }

  /** Removes what every consumer is past; serialised, never rejects. */
  private retain(): Promise<void> {
    this.retention = this.retention
      .then(async () => {
        const floor = this.positions.floor();
        if (floor !== undefined) await this.log.release(floor);
      })
      .catch(() => {});
    return this.retention;
  }
}
