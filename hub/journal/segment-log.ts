// The journal's durable log in segment files (format, reading and crash recovery in segments.ts).
// Appends that arrive while a flush is under way are written together by the next one: one
// write per group (group commit), each append resolving only once durable. The segment is open
// with O_DSYNC, so that write returns once its data is on disk, as a write and an fdatasync would:
// each step waits for a turn of the hub's event loop to be seen done, and under load those turns
// are what an acknowledgement waits for, not the disk.
// The newest durable entries are also kept in memory as appended, so a consumer that keeps up
// reads them from there instead of reading and parsing the segment again; and when entries became
// durable is sampled, so how far behind a consumer is can be told in time.
import { constants } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fsyncDir } from '../domain/durable-file.ts';
import type { Entry } from '../domain/reading.ts';
import type { Batch, EntryLog, EntryReader, LogStatus } from './entry-log.ts';
import {
  Cursor,
  describeError,
  JournalError,
  RecordEncoder,
  recoverSegments,
  segmentPath,
  serialise,
  writeFully,
  type JournalLog,
  type Segment,
} from './segments.ts';

const TAIL_ENTRIES = 65_536;

/** The segment writer's open flags: read and write, each write durable when it returns unless fsync is off. */
function writerFlags(options: { fsync: boolean }, more: number): number {
  const dsync = constants.O_DSYNC as number | undefined;
  if (options.fsync && dsync === undefined)
    throw new Error('journal: this system has no O_DSYNC, so its writes cannot be made durable');
  return constants.O_RDWR | (options.fsync ? (dsync ?? 0) : 0) | more;
}

export interface SegmentLogOptions {
  dir: string;
  /** A new segment is started once the current one has reached this size. */
  segmentBytes: number;
  /** False writes without O_DSYNC: only for measuring what durability costs. */
  fsync: boolean;
  log: JournalLog;
  now: () => number;
  /** Told how long each group's durable write took, as this thread saw it, in seconds. */
  onFlushed?: (seconds: number) => void;
  /** The LSN of the first entry when the directory holds no segment yet. */
  firstLsn: number;
}

interface PendingAppend {
  texts: string[];
  entries: readonly Entry[];
  count: number;
  resolve: (lastLsn: number) => void;
  reject: (err: Error) => void;
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

/** When entries became durable, sampled at most every SAMPLE_MS. Bounded: the oldest samples are dropped. */
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

  /** When the entry after `lsn` became durable (the earliest sample, for entries older than all kept). */
  durableAt(lsn: number): number | undefined {
    let lo = 0;
    let hi = this.samples.length - 1;
    if (hi < 0 || this.samples[hi]![0] <= lsn) return undefined;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.samples[mid]![0] > lsn) hi = mid;
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

export class SegmentLog implements EntryLog {
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
  private readonly durable = new Signal();
  private readonly encoder = new RecordEncoder();
  /** Entries are shared with every reader: read-only. */
  private readonly tail = new RecentEntries(TAIL_ENTRIES);
  private readonly flushTimes: FlushTimes;
  private _durableLsn: number;

  private constructor(
    readonly dir: string,
    private readonly options: SegmentLogOptions,
    private readonly segments: Segment[],
    private writer: FileHandle,
  ) {
    this._durableLsn = segments.at(-1)!.lastLsn;
    this.flushTimes = new FlushTimes(this._durableLsn, options.now());
  }

  static async open(options: SegmentLogOptions): Promise<SegmentLog> {
    const dir = resolve(options.dir);
    await mkdir(dir, { recursive: true });
    const segments = await recoverSegments(dir, options.log);
    if (segments.length === 0) {
      const path = segmentPath(dir, options.firstLsn);
      const fh = await open(path, 'w');
      await fh.close();
      await fsyncDir(dir);
      segments.push({ firstLsn: options.firstLsn, path, size: 0, lastLsn: options.firstLsn - 1 });
    }
    const writer = await open(segments.at(-1)!.path, writerFlags(options, 0));
    return new SegmentLog(dir, options, segments, writer);
  }

  get durableLsn(): number {
    return this._durableLsn;
  }

  get oldestLsn(): number {
    return this.segments[0]!.firstLsn;
  }

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

  nextDurable(): Promise<void> {
    return this.durable.wait();
  }

  durableAt(lsn: number): number | undefined {
    return this.flushTimes.durableAt(lsn);
  }

  reader(fromLsn: number): EntryReader {
    const cursor = new Cursor(() => this.segments, fromLsn);
    return {
      get nextLsn() {
        return cursor.nextLsn;
      },
      seek: async (lsn) => {
        await cursor.close();
        cursor.nextLsn = lsn;
      },
      read: async (max) => {
        // Entries released are gone even while the tail still holds them.
        const recent =
          cursor.nextLsn < this.oldestLsn
            ? undefined
            : this.tail.read(cursor.nextLsn, Math.min(max, this._durableLsn - cursor.nextLsn + 1));
        if (!recent) return cursor.read(max);
        cursor.nextLsn = recent.lastLsn + 1;
        return recent;
      },
      close: () => cursor.close(),
    };
  }

  /** Deletes the oldest segments that hold nothing after `lsn`; the current one always stays. */
  async release(lsn: number): Promise<void> {
    while (this.segments.length > 1) {
      const seg = this.segments[0]!;
      if (seg.lastLsn > lsn) break;
      // Out of the list first: readers then never pick it up, and open handles stay valid.
      this.segments.shift();
      try {
        await unlink(seg.path);
        this.options.log('info', 'journal: segment removed', { segment: seg.path, lastLsn: seg.lastLsn });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.options.log('warn', 'journal: could not remove segment', {
            segment: seg.path,
            error: describeError(err),
          });
        }
      }
    }
  }

  status(): LogStatus {
    return {
      writable: this.writable,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      lastLsn: this._durableLsn + this.inFlightEntries + this.queuedEntries,
      durableLsn: this._durableLsn,
      segments: this.segments.length,
      bytes: this.segments.reduce((sum, s) => sum + s.size, 0),
      flushes: this.flushes,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.writer.close();
  }

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

  /** One durable write for the whole group. Never throws: failures reject the appends. */
  private async flush(batch: PendingAppend[]): Promise<void> {
    let count = 0;
    for (const p of batch) count += p.count;
    this.queuedEntries -= count;
    this.inFlightEntries = count;
    const data = this.encoder.encode(batch.map((p) => p.texts));
    const began = performance.now();
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
        this.options.log('error', error.message, { dir: this.dir, code: error.code, entries: count });
      }
      this.writable = false;
      this.lastError = error.message;
      for (const p of batch) p.reject(error);
      return;
    }

    this.inFlightEntries = 0;
    let lsn = this._durableLsn;
    this._durableLsn += count;
    this.flushTimes.flushed(this._durableLsn, this.options.now());
    if (!this.writable) {
      this.options.log('info', 'journal writable again', { dir: this.dir, previousError: this.lastError });
      this.writable = true;
      this.lastError = undefined;
    }
    for (const p of batch) {
      this.tail.push(lsn + 1, p.entries);
      lsn += p.count;
      p.resolve(lsn);
    }
    this.durable.notify();
    // Told last, once every append of the group has its answer.
    if (data.length > 0) this.options.onFlushed?.((performance.now() - began) / 1000);
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
    if (cur.size === 0 || cur.size < this.options.segmentBytes) return;
    const firstLsn = cur.lastLsn + 1;
    const path = segmentPath(this.dir, firstLsn);
    let fh: FileHandle | undefined;
    try {
      // 'w' truncates a leftover of an earlier failed roll: no durable entry can have this LSN yet.
      fh = await open(path, writerFlags(this.options, constants.O_CREAT | constants.O_TRUNC));
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
}
