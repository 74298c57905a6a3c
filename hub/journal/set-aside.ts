// What the pipeline set aside rather than let it stall everything behind it: readings the store
// refused for good, with the database's own reason, and journal entries a consumer could not
// handle after several attempts. Each record is on disk (one JSON line, fdatasync'd) before the
// consumer moves past it, so an acknowledged reading is always either stored or listed here, also
// after a restart. Bounded: past `capacity` records the oldest half is dropped, and counted.
import { mkdir, open, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { devicesOf, type Entry } from '../domain/reading.ts';
import { replaceFile } from '../domain/durable-file.ts';
import { describeError, type JournalLog } from './segments.ts';

export type SetAsideReason = 'store_refused' | 'consumer_failed' | 'notification_refused';

export interface SetAsideRecord {
  /** When it was set aside, ms since epoch. */
  at: number;
  /** 'store' for readings the store refused, 'notify' for notifications a receiver refused; otherwise the journal consumer that gave up on an entry. */
  stage: string;
  reason: SetAsideReason;
  /** The database's reason, or the consumer's error. */
  detail: string;
  /** The journal entry, for a consumer's set-aside entry. */
  lsn?: number;
  device?: string;
  metric?: string;
  /** The reading's time. */
  ts?: number;
  value?: number;
  /** The start of the entry, as JSON, for a consumer's set-aside entry. */
  excerpt?: string;
}

export interface SetAsideOptions {
  path: string;
  /** Most records kept; once over, the oldest half is dropped. */
  capacity: number;
  now: () => number;
  log?: JournalLog;
  /** Told of each record once it is on disk (for counting). */
  onAdd?: (record: SetAsideRecord) => void;
}

const EXCERPT_CHARS = 300;

export class SetAsideLog {
  private records: SetAsideRecord[];
  /** LSNs each consumer has set aside: the journal never hands them to it again. */
  private readonly lsnsByStage = new Map<string, Set<number>>();
  private chain: Promise<void> = Promise.resolve();
  private droppedCount = 0;
  private totalCount: number;

  private constructor(
    private readonly options: SetAsideOptions,
    private fh: FileHandle,
    records: SetAsideRecord[],
  ) {
    this.records = records;
    this.totalCount = records.length;
    for (const r of records) this.remember(r);
  }

  static async open(options: SetAsideOptions): Promise<SetAsideLog> {
    if (!Number.isInteger(options.capacity) || options.capacity < 2)
      throw new Error(`set-aside capacity must be a whole number of at least 2, got ${options.capacity}`);
    await mkdir(dirname(options.path), { recursive: true });
    const records: SetAsideRecord[] = [];
    let text = '';
    try {
      text = await readFile(options.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let unreadable = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const record = JSON.parse(line) as SetAsideRecord;
        if (typeof record.stage === 'string' && typeof record.at === 'number') records.push(record);
        else unreadable++;
      } catch {
        // A line cut short by a crash mid-append: its consumer had not moved past it, so it comes again.
        unreadable++;
      }
    }
    if (unreadable > 0)
      options.log?.('warn', 'set-aside log: skipped unreadable lines', { path: options.path, lines: unreadable });
    const fh = await open(options.path, 'a');
    return new SetAsideLog(options, fh, records.slice(-options.capacity));
  }

  /** Records readings the store refused for good; resolves once they are on disk. */
  refusedReadings(
    refused: ReadonlyArray<{ device: string; metric: string; ts: number; value: number; reason: string }>,
  ): Promise<void> {
    const at = this.options.now();
    return this.add(
      refused.map((r) => ({
        at,
        stage: 'store',
        reason: 'store_refused' as const,
        detail: r.reason,
        device: r.device,
        metric: r.metric,
        ts: r.ts,
        value: r.value,
      })),
    );
  }

  /** Records that `consumer` gave up on journal entry `lsn`; resolves once it is on disk. */
  entry(consumer: string, lsn: number, entry: Entry, error: unknown): Promise<void> {
    let excerpt: string;
    try {
      excerpt = JSON.stringify(entry).slice(0, EXCERPT_CHARS);
    } catch {
      excerpt = '(an entry that cannot be shown as JSON)';
    }
    const [device] = devicesOf(entry);
    return this.add([
      {
        at: this.options.now(),
        stage: consumer,
        reason: 'consumer_failed',
        detail: describeError(error),
        lsn,
        excerpt,
        ...(device !== undefined && { device }),
      },
    ]);
  }

  /** Records a notification a receiver refused for good; resolves once it is on disk. */
  notification(target: string, payload: string, error: unknown): Promise<void> {
    return this.add([
      {
        at: this.options.now(),
        stage: 'notify',
        reason: 'notification_refused',
        detail: `${target}: ${describeError(error)}`,
        excerpt: payload.slice(0, EXCERPT_CHARS),
      },
    ]);
  }

  /** The journal entries this consumer has set aside. */
  lsns(consumer: string): ReadonlySet<number> {
    return this.lsnsByStage.get(consumer) ?? new Set();
  }

  /** Newest first. */
  list(filter: { stage?: string; device?: string; limit?: number } = {}): SetAsideRecord[] {
    const out: SetAsideRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && out.length < (filter.limit ?? Infinity); i--) {
      const r = this.records[i]!;
      if (
        (filter.stage === undefined || r.stage === filter.stage) &&
        (filter.device === undefined || r.device === filter.device)
      )
        out.push(r);
    }
    return out;
  }

  /** Records ever set aside, including those since dropped. */
  get total(): number {
    return this.totalCount;
  }

  /** Records dropped to keep the log within its capacity since the hub started. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Waits for writes in progress and closes the file. */
  async close(): Promise<void> {
    await this.chain;
    await this.fh.close();
  }

  private add(records: SetAsideRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const write = this.chain.then(async () => {
      await this.fh.appendFile(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      await this.fh.datasync();
      for (const r of records) {
        this.records.push(r);
        this.remember(r);
        this.options.onAdd?.(r);
      }
      this.totalCount += records.length;
      if (this.records.length > this.options.capacity) await this.compact();
    });
    // The chain goes on after a failed write; the caller sees the failure and keeps its position.
    this.chain = write.catch(() => undefined);
    return write;
  }

  private remember(r: SetAsideRecord): void {
    if (r.lsn === undefined) return;
    let lsns = this.lsnsByStage.get(r.stage);
    if (!lsns) {
      lsns = new Set();
      this.lsnsByStage.set(r.stage, lsns);
    }
    lsns.add(r.lsn);
  }

  /** Keeps the newest half: written to a new file, fsync'd and renamed over the old one. */
  private async compact(): Promise<void> {
    const keep = this.records.slice(-Math.floor(this.options.capacity / 2));
    const dropped = this.records.length - keep.length;
    await replaceFile(this.options.path, keep.map((r) => `${JSON.stringify(r)}\n`).join(''));
    await this.fh.close();
    this.fh = await open(this.options.path, 'a');
    this.records = keep;
    this.lsnsByStage.clear();
    for (const r of keep) this.remember(r);
    this.droppedCount += dropped;
    this.options.log?.('warn', 'set-aside log: full; dropped the oldest records', {
      path: this.options.path,
      dropped,
      kept: keep.length,
    });
  }
}
