// The durable journal between ingest and its consumers. An append is acknowledged only once it is
// fsync'd; consumers (store writer, rule engine, ...) each read the same segment files at their own
// pace and persist how far they got, so a restart resumes where each one left off.
//
// On disk, in `dir`: segment files (format in segments.ts) and consumers/<name>.pos, each
// consumer's committed LSN in decimal.
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Entry } from '../domain/reading.ts';
import {
  Cursor,
  JournalError,
  describeError,
  fsyncDir,
  recoverSegments,
  RecordEncoder,
  segmentPath,
  serialise,
  writeFully,
  type Batch,
  type JournalLog,
  type Segment,
} from './segments.ts';

export { JournalError, type JournalLog, type JournalLogLevel } from './segments.ts';

const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
const CONSUMER_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const INITIAL_BACKOFF_MS = 100;
const TAIL_ENTRIES = 65_536;

export interface JournalOptions {
  dir: string;
  /** A new segment is started once the current one has reached this size. Default 16 MiB. */
  segmentBytes?: number;
  log?: JournalLog;
  /**
   * Default true. False skips the fdatasync, so an acknowledged append can be lost in a crash:
   * only for measuring what durability costs.
   */
  fsync?: boolean;
  /** Where entries a consumer gave up on are recorded; default: in memory, for this run only. */
  setAside?: SetAsideRecorder;
  /** The clock for how far behind consumers are. Default Date.now. */
  now?: () => number;
}

/** Records the entries consumers gave up on, so they are listed and never handed to them again. */
export interface SetAsideRecorder {
  /** Resolves once the record is durable: only then does the consumer move past the entry. */
  entry(consumer: string, lsn: number, entry: Entry, error: unknown): Promise<void>;
  lsns(consumer: string): ReadonlySet<number>;
}

/** I/O trouble rather than a bad entry: system errors (a full disk) and SQLite's database-state codes. */
export function isIoError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (/^E[A-Z]+$/.test(code) || /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL)/.test(code));
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

/**
 * Thrown by a handler that lost what it did since its last committed position (its own state
 * reverted to an older save): the consumer is handed the entries after that position again.
 */
export class ReplayRequest extends Error {
  override readonly name = 'ReplayRequest';
}

/** Called with consecutive entries whose last LSN is `lastLsn`. Resolving commits them. */
export type ConsumerHandler = (entries: Entry[], lastLsn: number) => Promise<void> | void;

export interface ConsumeOptions {
  /** Where a consumer without a committed position starts. Default 'oldest'. */
  from?: 'oldest' | 'end';
  /** Most entries per handler call. Default 1000. */
  maxBatch?: number;
  /** Position writes are coalesced to at most one per interval (and one on stop). Default 1000. */
  commitIntervalMs?: number;
  /**
   * Handler calls start at least this far apart; entries that arrive meanwhile join the next
   * call. A quiet journal is not delayed; under load, fewer and larger batches. Default 0.
   */
  minCallIntervalMs?: number;
  /** Cap of the retry backoff, which starts at 100 ms and doubles. Default 5000. */
  maxBackoffMs?: number;
  /**
   * Errors that come from the consumer's surroundings rather than the entries (a store down, a full
   * disk): retried with backoff for as long as they last, never held against an entry. Any other
   * error is: an entry that fails `maxAttempts` times alone is set aside. Default: isIoError.
   */
  transient?: (err: unknown) => boolean;
  /** Failed attempts at a run of entries, and then at one entry alone, before it is set aside. Default 3. */
  maxAttempts?: number;
  /** Each failed attempt (handler error or read error), counting consecutive failures from 1. */
  onError?: (err: unknown, attempt: number) => void;
  /**
   * Makes what the handler did up to `lsn` durable; called before each position write of `lsn`,
   * which is skipped (and retried later) when it throws. For handlers that defer their own fsync,
   * or whose state can fall behind what they were handed.
   */
  beforeCommit?: (lsn: number) => void | Promise<void>;
  /**
   * Default true. False keeps the position in memory only, for live views: no position file, it
   * never holds segments back, and every start begins per `from`.
   */
  durable?: boolean;
}

export interface ConsumerHandle {
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
  /** Entries after the committed position (positions are saved at most once a second). */
  lag: number;
  /** For a running consumer: how long ago the oldest entry it has not handled yet became durable, ms; 0 when caught up. */
  behindMs?: number;
}

export interface JournalStatus {
  /** False from a failed write/fsync until the next successful one. */
  writable: boolean;
  /** The failure that made the journal unwritable; absent while writable. */
  lastError?: string;
  /** LSN the newest accepted append gets once flushed (equals durableLsn when nothing is pending). */
  lastLsn: number;
  /** Highest LSN on disk and fsync'd. */
  durableLsn: number;
  segments: number;
  bytes: number;
  /** Write+fdatasync rounds done so far; with group commit, far fewer than appends. */
  flushes: number;
  /** Active consumers and those known from their position files. */
  consumers: ConsumerStatus[];
}




interface PendingAppend {
  texts: string[];
  entries: readonly Entry[];
  count: number;
  resolve: (lastLsn: number) => void;
  reject: (err: Error) => void;
}

interface ConsumerState {
  name: string;
  handler: ConsumerHandler;
  maxBatch: number;
  commitIntervalMs: number;
  minCallIntervalMs: number;
  /** When the handler was last called (ms). */
  lastCallAt: number;
  maxBackoffMs: number;
  transient: (err: unknown) => boolean;
  maxAttempts: number;
  /** Consecutive failed handler calls. */
  failures: number;
  /** A run of entries known to hold one that fails, being narrowed down; attempts at this very run. */
  poison: { lo: number; hi: number; attempts: number } | undefined;
  onError: ((err: unknown, attempt: number) => void) | undefined;
  beforeCommit: ((lsn: number) => void | Promise<void>) | undefined;
  durable: boolean;
  /** Where delivery started: a position at or before it covers nothing the handler did. */
  start: number;
  /** Last LSN the handler has accepted. */
  processed: number;
  /** When the handler call under way began; undefined between calls. */
  handlingSince: number | undefined;
  /** Last LSN written to the position file. */
  committed: number;
  /** The position file does not reflect `committed` yet (new consumer, or clamped position). */
  needsPersist: boolean;
  lastCommitAt: number;
  timer: NodeJS.Timeout | undefined;
  commitChain: Promise<void>;
  stopped: boolean;
  stopSignal: Promise<void>;
  signalStop: () => void;
  loop: Promise<void> | undefined;
  stopping: Promise<void> | undefined;
}

/** A bounded run of consecutive entries ending at the newest durable one. */
class RecentEntries {
  private entries: Entry[] = [];
  private firstLsn = 1;

  constructor(private readonly capacity: number) {}

  push(firstLsn: number, entries: readonly Entry[]): void {
    if (firstLsn !== this.firstLsn + this.entries.length) {
      // Not contiguous (first flush after open): start over from here.
      this.entries = [];
      this.firstLsn = firstLsn;
    }
    this.entries.push(...entries);
    const excess = this.entries.length - this.capacity;
    if (excess > this.capacity / 4) {
      this.entries = this.entries.slice(excess);
      this.firstLsn += excess;
    }
  }

  /** Up to `max` entries from `lsn` on, when they are all still held. */
  read(lsn: number, max: number): Batch | undefined {
    const start = lsn - this.firstLsn;
    if (start < 0 || start >= this.entries.length || max <= 0) return undefined;
    const entries = this.entries.slice(start, start + max);
    return { entries, lastLsn: lsn + entries.length - 1 };
  }
}

/**
 * When entries became durable, sampled at most every SAMPLE_MS, so how far behind a consumer is can
 * be told in time, not only in entries. Bounded: the oldest samples are dropped.
 */
class FlushTimes {
  private static readonly SAMPLE_MS = 100;
  private static readonly KEPT = 8192;
  /** [last LSN of the sample, time it became durable], oldest first. */
  private samples: Array<[number, number]> = [];

  constructor(durableLsn: number, at: number) {
    this.samples.push([durableLsn, at]);
  }

  flushed(lastLsn: number, at: number): void {
    const newest = this.samples.at(-1);
    if (newest && at - newest[1] < FlushTimes.SAMPLE_MS) {
      newest[0] = lastLsn;
      return;
    }
    this.samples.push([lastLsn, at]);
    if (this.samples.length > FlushTimes.KEPT) this.samples = this.samples.slice(FlushTimes.KEPT / 4);
  }

  /** When the entry after `processed` became durable (the earliest sample, for entries older than all kept). */
  durableAt(processed: number): number | undefined {
    let lo = 0;
    let hi = this.samples.length - 1;
    if (hi < 0 || this.samples[hi]![0] <= processed) return undefined;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.samples[mid]![0] > processed) hi = mid;
      else lo = mid + 1;
    }
    return this.samples[lo]![1];
  }
}

/** One promise shared by everyone waiting for the next event. */
class Signal {
  private promise: Promise<void> | undefined;
  private release: (() => void) | undefined;

  wait(): Promise<void> {
    this.promise ??= new Promise<void>((r) => {
      this.release = r;
    });
    return this.promise;
  }

  notify(): void {
    const release = this.release;
    this.promise = undefined;
    this.release = undefined;
    release?.();
  }
}

export class Journal {
  private readonly consumersDir: string;
  private readonly segments: Segment[];
  private writer: FileHandle;
  private durableLsn: number;
  private queue: PendingAppend[] = [];
  private queuedEntries = 0;
  private inFlightEntries = 0;
  private flushing: Promise<void> | undefined;
  /** Bytes past the durable size may be on disk after a failed flush; cut them before writing. */
  private dirtyTail = false;
  private writable = true;
  private lastError: string | undefined;
  private flushes = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly durable = new Signal();
  private readonly encoder = new RecordEncoder();
  /**
   * The newest durable entries, as appended, so consumers that keep up read them from memory
   * instead of reading and parsing the segment again each. Entries are shared: read-only.
   */
  private readonly tail = new RecentEntries(TAIL_ENTRIES);
  /** Committed LSN of every registered consumer, running or known from its position file. */
  private readonly positions: Map<string, number>;
  private readonly active = new Map<string, ConsumerState>();
  private removal: Promise<void> = Promise.resolve();
  private readonly flushTimes: FlushTimes;

  private constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
    private readonly fsync: boolean,
    private readonly log: JournalLog,
    private readonly setAside: SetAsideRecorder,
    private readonly now: () => number,
    segments: Segment[],
    writer: FileHandle,
    positions: Map<string, number>,
  ) {
    this.consumersDir = join(dir, 'consumers');
    this.segments = segments;
    this.writer = writer;
    this.positions = positions;
    this.durableLsn = segments.at(-1)?.lastLsn ?? 0;
    this.flushTimes = new FlushTimes(this.durableLsn, now());
  }

  static async open(opts: JournalOptions): Promise<Journal> {
    const dir = resolve(opts.dir);
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isInteger(segmentBytes) || segmentBytes <= 0) {
      throw new Error(`journal segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    const log: JournalLog = opts.log ?? (() => {});
    const consumersDir = join(dir, 'consumers');
    await mkdir(consumersDir, { recursive: true });

    const segments = await recoverSegments(dir, log);
    const positions = await loadPositions(consumersDir, log);

    if (segments.length === 0) {
      // Continue after any position a consumer holds, so it never mistakes new entries for read ones.
      const firstLsn = Math.max(0, ...positions.values()) + 1;
      const path = segmentPath(dir, firstLsn);
      const fh = await open(path, 'w');
      await fh.close();
      await fsyncDir(dir);
      segments.push({ firstLsn, path, size: 0, lastLsn: firstLsn - 1 });
    }
    const current = segments.at(-1)!;
    const writer = await open(current.path, 'r+');
    const journal = new Journal(dir, segmentBytes, opts.fsync ?? true, log, opts.setAside ?? new MemorySetAside(), opts.now ?? Date.now, segments, writer, positions);
    log('info', 'journal opened', {
      dir,
      segments: segments.length,
      firstLsn: segments[0]!.firstLsn,
      lastLsn: journal.durableLsn,
      consumers: [...positions.keys()],
    });
    return journal;
  }

  /** Resolves with the LSN of the last entry once all of them are written and fsync'd. */
  append(entries: readonly Entry[]): Promise<number> {
    if (this.closed) return Promise.reject(new JournalError(`journal is closed (${this.dir})`));
    let texts: string[];
    try {
      texts = serialise(entries);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ texts, entries, count: entries.length, resolve, reject });
      this.queuedEntries += entries.length;
      this.kickFlush();
    });
  }

  status(): JournalStatus {
    const committed = new Map(this.positions);
    for (const c of this.active.values()) if (!c.durable) committed.set(c.name, c.committed);
    const consumers = [...committed.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, committedLsn]): ConsumerStatus => ({
        name,
        committedLsn,
        lag: Math.max(0, this.durableLsn - committedLsn),
        ...(this.active.has(name) && { behindMs: this.behindMs(name) }),
      }));
    return {
      writable: this.writable,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      lastLsn: this.durableLsn + this.inFlightEntries + this.queuedEntries,
      durableLsn: this.durableLsn,
      segments: this.segments.length,
      bytes: this.segments.reduce((sum, s) => sum + s.size, 0),
      flushes: this.flushes,
      consumers,
    };
  }

  /**
   * Whether a running consumer is stuck rather than slow: its last batch failed and it is waiting
   * to try again, or its handler has been at one batch for longer than `ms`.
   */
  stuck(name: string, ms: number): boolean {
    const running = this.active.get(name);
    if (!running) return false;
    return running.failures > 0 || running.poison !== undefined || (running.handlingSince !== undefined && this.now() - running.handlingSince > ms);
  }

  /** How long ago the oldest entry this running consumer has not handled became durable, ms; 0 when caught up or not running. */
  behindMs(name: string): number {
    const running = this.active.get(name);
    const since = running && this.flushTimes.durableAt(running.processed);
    return since === undefined ? 0 : Math.max(0, this.now() - since);
  }

  /**
   * Starts delivering entries after the consumer's committed position (or per `opts.from` when it
   * has none), then follows new durable appends.
   */
  consume(name: string, handler: ConsumerHandler, opts: ConsumeOptions = {}): ConsumerHandle {
    if (this.closed) throw new Error(`journal is closed (${this.dir})`);
    if (!CONSUMER_NAME.test(name)) {
      throw new Error(
        `consumer name ${JSON.stringify(name)} is invalid: lower-case letter first, then up to 31 of a-z, 0-9, '-'`,
      );
    }
    if (this.active.has(name)) throw new Error(`consumer ${name} is already running`);
    const maxBatch = positiveInt('maxBatch', opts.maxBatch ?? 1000);
    const commitIntervalMs = nonNegative('commitIntervalMs', opts.commitIntervalMs ?? 1000);
    const minCallIntervalMs = nonNegative('minCallIntervalMs', opts.minCallIntervalMs ?? 0);
    const maxBackoffMs = nonNegative('maxBackoffMs', opts.maxBackoffMs ?? 5000);

    const durable = opts.durable ?? true;
    const oldestLsn = this.segments[0]!.firstLsn;
    const known = durable ? this.positions.get(name) : undefined;
    let start = known ?? (opts.from === 'end' ? this.durableLsn : oldestLsn - 1);
    let needsPersist = durable && known === undefined;
    if (start > this.durableLsn) {
      this.log('warn', 'journal: consumer position is past the end of the journal; starting at the end', {
        consumer: name,
        position: start,
        durableLsn: this.durableLsn,
      });
      start = this.durableLsn;
      needsPersist = durable;
    } else if (start < oldestLsn - 1) {
      this.log('warn', 'journal: entries this consumer has not read are no longer retained; starting at the oldest', {
        consumer: name,
        position: start,
        oldestLsn,
        lost: oldestLsn - 1 - start,
      });
      start = oldestLsn - 1;
      needsPersist = durable;
    }
    // Registered before anything is awaited, so segment removal already accounts for it.
    if (durable) this.positions.set(name, start);

    let signalStop = (): void => {};
    const stopSignal = new Promise<void>((r) => {
      signalStop = r;
    });
    const c: ConsumerState = {
      name,
      handler,
      maxBatch,
      commitIntervalMs,
      minCallIntervalMs,
      lastCallAt: 0,
      maxBackoffMs,
      transient: opts.transient ?? isIoError,
      maxAttempts: positiveInt('maxAttempts', opts.maxAttempts ?? 3),
      failures: 0,
      poison: undefined,
      onError: opts.onError,
      beforeCommit: opts.beforeCommit,
      durable,
      start,
      processed: start,
      handlingSince: undefined,
      committed: start,
      needsPersist,
      lastCommitAt: 0,
      timer: undefined,
      commitChain: Promise.resolve(),
      stopped: false,
      stopSignal,
      signalStop,
      loop: undefined,
      stopping: undefined,
    };
    this.active.set(name, c);
    c.loop = this.runConsumer(c).catch((err: unknown) => {
      this.log('error', 'journal: consumer stopped on an unexpected error', { consumer: name, error: describeError(err) });
    });
    return { stop: () => this.stopConsumer(c) };
  }

  /** Forgets a consumer (stopping it if running): its position no longer holds segments back. */
  async removeConsumer(name: string): Promise<void> {
    const c = this.active.get(name);
    if (c) await this.stopConsumer(c);
    this.positions.delete(name);
    await rm(join(this.consumersDir, `${name}.pos`), { force: true });
    await fsyncDir(this.consumersDir).catch(() => {});
    this.log('info', 'journal: consumer removed', { consumer: name });
    await this.removeSegments();
  }

  /** Every retained durable entry from `fromLsn` on, up to the durable end at the time of the call. */
  async *readAll(fromLsn = 1): AsyncGenerator<JournalRecord, void, undefined> {
    const end = this.durableLsn;
    const cursor = new Cursor(() => this.segments, fromLsn);
    try {
      while (cursor.nextLsn <= end) {
        const batch = await cursor.read(1000);
        if (!batch) return;
        let lsn = batch.lastLsn - batch.entries.length + 1;
        for (const entry of batch.entries) {
          if (lsn > end) return;
          yield { lsn, entry };
          lsn += 1;
        }
      }
    } finally {
      await cursor.close();
    }
  }

  /** Flushes pending appends, stops consumers (committing their positions) and closes files. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    await Promise.all([...this.active.values()].map((c) => this.stopConsumer(c)));
    await this.removal;
    await this.writer.close();
    this.log('info', 'journal closed', { dir: this.dir, durableLsn: this.durableLsn });
  }

  // ---- writing ----

  private get current(): Segment {
    return this.segments.at(-1)!;
  }

  private kickFlush(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      // Appends made in the same tick as the first one join its flush.
      await Promise.resolve();
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.flush(batch);
      }
    })().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0) this.kickFlush();
    });
  }

  /** One write and one fdatasync for the whole batch. Never throws: failures reject the appends. */
  private async flush(batch: PendingAppend[]): Promise<void> {
    let count = 0;
    for (const p of batch) count += p.count;
    this.queuedEntries -= count;
    this.inFlightEntries = count;
    const data = this.encoder.encode(batch.map((p) => p.texts));
    try {
      if (data.length > 0) {
        await this.repairTail();
        await this.rollIfFull();
        const seg = this.current;
        this.dirtyTail = true;
        try {
          await writeFully(this.writer, data, seg.size);
        } catch (err) {
          throw this.ioError('write', err);
        }
        try {
          if (this.fsync) await this.writer.datasync();
        } catch (err) {
          throw this.ioError('fsync', err);
        }
        this.dirtyTail = false;
        this.flushes += 1;
        seg.size += data.length;
        seg.lastLsn += count;
      }
    } catch (err) {
      const error = err instanceof JournalError ? err : this.ioError('write', err);
      this.inFlightEntries = 0;
      await this.repairTail().catch(() => {});
      if (this.writable || this.lastError !== error.message) {
        this.log('error', error.message, { dir: this.dir, code: error.code, entries: count });
      }
      this.writable = false;
      this.lastError = error.message;
      for (const p of batch) p.reject(error);
      return;
    }

    this.inFlightEntries = 0;
    let lsn = this.durableLsn;
    this.durableLsn += count;
    this.flushTimes.flushed(this.durableLsn, this.now());
    if (!this.writable) {
      this.log('info', 'journal writable again', { dir: this.dir, previousError: this.lastError });
      this.writable = true;
      this.lastError = undefined;
    }
    for (const p of batch) {
      this.tail.push(lsn + 1, p.entries);
      lsn += p.count;
      p.resolve(lsn);
    }
    this.durable.notify();
  }

  /** Cuts the current segment back to its durable size, so later records never follow garbage. */
  private async repairTail(): Promise<void> {
    if (!this.dirtyTail) return;
    try {
      await this.writer.truncate(this.current.size);
      await this.writer.datasync();
    } catch (err) {
      throw this.ioError('truncate', err);
    }
    this.dirtyTail = false;
  }

  private async rollIfFull(): Promise<void> {
    const cur = this.current;
    if (cur.size === 0 || cur.size < this.segmentBytes) return;
    const firstLsn = cur.lastLsn + 1;
    const path = segmentPath(this.dir, firstLsn);
    let fh: FileHandle | undefined;
    try {
      // 'w' truncates a leftover of an earlier failed roll: no durable entry can have this LSN yet.
      fh = await open(path, 'w+');
      await fsyncDir(this.dir);
    } catch (err) {
      await fh?.close().catch(() => {});
      throw this.ioError('segment creation', err);
    }
    const old = this.writer;
    this.writer = fh;
    this.segments.push({ firstLsn, path, size: 0, lastLsn: firstLsn - 1 });
    await old.close().catch(() => {});
  }

  private ioError(action: string, err: unknown): JournalError {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    return new JournalError(`journal ${action} failed: ${describeError(err)} in ${this.dir}`, code, err);
  }

  // ---- consumers ----

  private async runConsumer(c: ConsumerState): Promise<void> {
    const cursor = new Cursor(() => this.segments, c.processed + 1);
    /** The next reads start at `lsn` again (a retry, or the entries before a replay). */
    const rewind = async (lsn: number): Promise<void> => {
      await cursor.close();
      cursor.nextLsn = lsn;
    };
    try {
      if (c.needsPersist) await this.commit(c);
      let readFailures = 0;
      while (!c.stopped) {
        const sinceCall = Date.now() - c.lastCallAt;
        if (sinceCall < c.minCallIntervalMs) {
          await this.pause(c, c.minCallIntervalMs - sinceCall);
          if (c.stopped) return;
        }
        // Taken before reading, so an append that lands while we read still wakes us.
        const woke = this.durable.wait();
        if (this.passSetAside(c, cursor)) this.scheduleCommit(c);
        const limit = this.deliveryLimit(c, cursor.nextLsn);
        let batch: Batch | undefined;
        try {
          batch = this.tail.read(cursor.nextLsn, Math.min(limit, this.durableLsn - cursor.nextLsn + 1));
          if (batch) cursor.nextLsn = batch.lastLsn + 1;
          else batch = await cursor.read(limit);
          readFailures = 0;
        } catch (err) {
          readFailures += 1;
          this.log('error', 'journal: consumer could not read the journal', {
            consumer: c.name,
            lsn: cursor.nextLsn,
            error: describeError(err),
            attempt: readFailures,
          });
          this.reportConsumerError(c, err, readFailures, false);
          await this.pause(c, backoffMs(readFailures, c.maxBackoffMs));
          continue;
        }
        if (!batch) {
          await Promise.race([woke, c.stopSignal]);
          continue;
        }
        const firstLsn = batch.lastLsn - batch.entries.length + 1;
        let failure: unknown;
        try {
          c.lastCallAt = Date.now();
          c.handlingSince = this.now();
          await c.handler(batch.entries, batch.lastLsn);
        } catch (err) {
          failure = err;
        } finally {
          c.handlingSince = undefined;
        }
        if (failure instanceof ReplayRequest) {
          // Not a failure: the handler wants earlier entries again, at once. Segments are kept
          // back to the committed position, so its entries can still be read.
          await c.commitChain;
          this.log('warn', 'journal: consumer asked for its entries again; replaying from its committed position', { consumer: c.name, from: c.committed + 1, reason: describeError(failure) });
          await rewind(c.committed + 1);
          c.processed = c.committed;
          continue;
        }
        if (failure !== undefined) {
          if (c.stopped) return;
          const waitMs = await this.onHandlerFailure(c, batch, firstLsn, failure);
          if (waitMs === 0) this.scheduleCommit(c);
          else await this.pause(c, waitMs);
          if (c.stopped) return;
          await rewind(c.processed + 1);
          continue;
        }
        c.failures = 0;
        this.cleared(c, firstLsn, batch.lastLsn);
        c.processed = batch.lastLsn;
        this.scheduleCommit(c);
      }
    } finally {
      await cursor.close();
    }
  }

  /**
   * Moves past entries this consumer set aside before, so they are never handed to it again;
   * true when it did.
   */
  private passSetAside(c: ConsumerState, cursor: Cursor): boolean {
    const setAside = this.setAside.lsns(c.name);
    if (setAside.size === 0) return false;
    let passed = false;
    while (cursor.nextLsn <= this.durableLsn && setAside.has(cursor.nextLsn)) {
      c.processed = cursor.nextLsn;
      cursor.nextLsn += 1;
      passed = true;
    }
    return passed;
  }

  /**
   * How many entries from `next` the consumer may be handed at once: never across an entry it set
   * aside, and while a failing run of entries is being narrowed down, only the entries before it,
   * then the run itself, then (after maxAttempts) one entry at a time.
   */
  private deliveryLimit(c: ConsumerState, next: number): number {
    let limit = c.maxBatch;
    for (const lsn of this.setAside.lsns(c.name)) if (lsn > next && lsn - next < limit) limit = lsn - next;
    const p = c.poison;
    if (p && next <= p.hi) {
      if (next < p.lo) limit = Math.min(limit, p.lo - next);
      else limit = p.attempts >= c.maxAttempts ? 1 : Math.min(limit, p.hi - next + 1);
    }
    return limit;
  }

  /** A batch went through: whatever failed in that run before was not the entries' fault. */
  private cleared(c: ConsumerState, first: number, last: number): void {
    const p = c.poison;
    if (!p || last < p.lo || first > p.hi) return;
    if (first <= p.lo && last >= p.hi) c.poison = undefined;
    else if (first <= p.lo) p.lo = last + 1;
  }

  /**
   * A handler call failed. A transient failure (the consumer's surroundings: a store down, a full
   * disk) is retried for as long as it lasts. Otherwise the run of entries that fails is narrowed
   * down, and an entry that fails `maxAttempts` times alone is set aside so the entries behind it
   * keep flowing. Resolves with how long to wait before the next attempt: 0 when an entry was set
   * aside and the consumer moves on at once.
   */
  private async onHandlerFailure(c: ConsumerState, batch: Batch, first: number, err: unknown): Promise<number> {
    c.failures += 1;
    this.reportConsumerError(c, err, c.failures, true);
    if (c.transient(err)) return backoffMs(c.failures, c.maxBackoffMs);
    const last = batch.lastLsn;
    const p = c.poison;
    if (!p || last < p.lo || first > p.hi) {
      c.poison = { lo: first, hi: last, attempts: 1 };
    } else {
      const lo = Math.max(first, p.lo);
      const hi = Math.min(last, p.hi);
      c.poison = lo === p.lo && hi === p.hi ? { lo, hi, attempts: p.attempts + 1 } : { lo, hi, attempts: 1 };
    }
    const poison = c.poison;
    // Entries are held against only for their own failures: the backoff follows this run's attempts.
    const waitMs = backoffMs(poison.attempts, c.maxBackoffMs);
    if (poison.lo !== poison.hi || first !== poison.lo || poison.attempts < c.maxAttempts) return waitMs;
    const entry = batch.entries[0];
    if (entry === undefined) return waitMs;
    try {
      await this.setAside.entry(c.name, poison.lo, entry, err);
    } catch (recordErr) {
      // Moving on without a record would lose the entry silently: try again after the backoff.
      this.log('error', 'journal: could not record an entry set aside; the consumer waits', { consumer: c.name, lsn: poison.lo, error: describeError(recordErr) });
      return waitMs;
    }
    this.log('error', `journal: consumer ${c.name} set aside entry ${poison.lo} after ${poison.attempts} failed attempts; the entries after it carry on`, {
      consumer: c.name,
      lsn: poison.lo,
      error: describeError(err),
    });
    c.poison = undefined;
    c.failures = 0;
    c.processed = poison.lo;
    return 0;
  }

  /** Commits the position now, or schedules it within the commit interval. */
  private scheduleCommit(c: ConsumerState): void {
    const due = c.lastCommitAt + c.commitIntervalMs;
    const now = Date.now();
    if (now >= due) {
      void this.commit(c);
    } else if (!c.timer) {
      c.timer = setTimeout(() => {
        c.timer = undefined;
        void this.commit(c);
      }, due - now);
      c.timer.unref();
    }
  }

  private reportConsumerError(c: ConsumerState, err: unknown, attempt: number, fromHandler: boolean): void {
    if (c.onError) {
      try {
        c.onError(err, attempt);
      } catch {
        // A faulty error reporter must not stop delivery.
      }
    } else if (fromHandler) {
      this.log('warn', 'journal: consumer handler failed; retrying the batch', {
        consumer: c.name,
        attempt,
        error: describeError(err),
      });
    }
  }

  private async pause(c: ConsumerState, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
      }),
      c.stopSignal,
    ]);
    clearTimeout(timer);
  }

  /** Persists the consumer's position; serialised per consumer, never rejects. */
  private commit(c: ConsumerState): Promise<void> {
    c.commitChain = c.commitChain.then(async () => {
      const lsn = c.processed;
      if (!c.durable) {
        c.committed = lsn;
        return;
      }
      if (lsn === c.committed && !c.needsPersist) return;
      c.lastCommitAt = Date.now();
      try {
        if (lsn > c.start) await c.beforeCommit?.(lsn);
        await this.writePosition(c.name, lsn);
      } catch (err) {
        this.log('warn', 'journal: could not save consumer position; will retry', {
          consumer: c.name,
          lsn,
          error: describeError(err),
        });
        return;
      }
      c.committed = lsn;
      c.needsPersist = false;
      this.positions.set(c.name, lsn);
      await this.removeSegments();
    });
    return c.commitChain;
  }

  private stopConsumer(c: ConsumerState): Promise<void> {
    c.stopping ??= (async () => {
      c.stopped = true;
      c.signalStop();
      await c.loop;
      clearTimeout(c.timer);
      c.timer = undefined;
      await this.commit(c);
      if (this.active.get(c.name) === c) this.active.delete(c.name);
    })();
    return c.stopping;
  }

  /** Write to a temp file, fsync, rename: a crash leaves either the old or the new position. */
  private async writePosition(name: string, lsn: number): Promise<void> {
    const path = join(this.consumersDir, `${name}.pos`);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${lsn}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(this.consumersDir);
  }

  /** Deletes the oldest segments every registered consumer has committed past; serialised. */
  private removeSegments(): Promise<void> {
    this.removal = this.removal.then(async () => {
      let min = Number.POSITIVE_INFINITY;
      for (const lsn of this.positions.values()) min = Math.min(min, lsn);
      while (this.segments.length > 1) {
        const seg = this.segments[0]!;
        if (seg.lastLsn > min) break;
        // Out of the list first: readers then never pick it up, and open handles stay valid.
        this.segments.shift();
        try {
          await unlink(seg.path);
          this.log('info', 'journal: segment removed', { segment: seg.path, lastLsn: seg.lastLsn });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
            this.log('warn', 'journal: could not remove segment', { segment: seg.path, error: describeError(err) });
          }
        }
      }
    }).catch(() => {});
    return this.removal;
  }
}

// ---- reading ----

async function loadPositions(consumersDir: string, log: JournalLog): Promise<Map<string, number>> {
  const positions = new Map<string, number>();
  for (const file of await readdir(consumersDir)) {
    const path = join(consumersDir, file);
    if (file.endsWith('.pos.tmp')) {
      // A position write interrupted before its rename; the .pos file still holds the old one.
      await unlink(path).catch(() => {});
      continue;
    }
    if (!file.endsWith('.pos')) continue;
    const name = file.slice(0, -'.pos'.length);
    if (!CONSUMER_NAME.test(name)) continue;
    const text = await readFile(path, 'utf8');
    const m = /^(\d+)\n?$/.exec(text);
    if (m) {
      positions.set(name, Number(m[1]));
    } else {
      // Replaying everything is safe for idempotent consumers; skipping is not.
      log('warn', 'journal: unreadable consumer position; it will replay from the oldest entry', {
        consumer: name,
        file: path,
      });
      positions.set(name, 0);
    }
  }
  return positions;
}

function backoffMs(attempt: number, cap: number): number {
  return Math.min(INITIAL_BACKOFF_MS * 2 ** (attempt - 1), cap);
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${value}`);
  return value;
}
