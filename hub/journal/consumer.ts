// One consumer of the journal: hands the entries after its position to its handler, in order and
// in batches, then follows new durable appends. A failure from the consumer's surroundings (a
// store down, a full disk) is retried with backoff for as long as it lasts; any other marks the
// failing run of entries, which is narrowed down to the one entry that fails, and that entry is
// set aside after a few attempts so the ones behind it keep flowing. After any failure delivery
// resumes where the consumer's position says (see positions.ts).
import { backoffMs, type Backoff } from '../domain/backoff.ts';
import type { Entry } from '../domain/reading.ts';
import type { Clock } from './clock.ts';
import type { Batch, EntryLog, EntryReader } from './entry-log.ts';
import type { Pacing } from './pacing.ts';
import type { ConsumerPosition } from './positions.ts';
import { describeError, type JournalLog } from './segments.ts';

/** Called with consecutive entries whose last LSN is `lastLsn`. Resolving means they are handled. */
export type ConsumerHandler = (entries: Entry[], lastLsn: number) => Promise<void> | void;

/** Records the entries consumers gave up on, so they are listed and never handed to them again. */
export interface SetAsideRecorder {
  /** Resolves once the record is durable: only then does the consumer move past the entry. */
  entry(consumer: string, lsn: number, entry: Entry, error: unknown): Promise<void>;
  lsns(consumer: string): ReadonlySet<number>;
}

export interface ConsumerContext {
  log: EntryLog;
  setAside: SetAsideRecorder;
  clock: Clock;
  report: JournalLog;
  /** After each position commit: what every consumer is past may go. */
  committed(): Promise<void>;
  /** Once stopped, before the last commit: the consumer finishes what its position holds. */
  finish?: () => Promise<void>;
}

/** A run of entries known to hold one that fails, being narrowed down; attempts at this very run. */
interface Poison {
  lo: number;
  hi: number;
  attempts: number;
}

/** Tells the consumer's owner something; a faulty reporter must not stop delivery. */
function tell(report: () => void): void {
  try {
    report();
  } catch {
    // Told nothing, delivery goes on.
  }
}

export class Consumer {
  /** Last LSN the handler has got through. */
  private processed: number;
  /** When the handler was last called. */
  private lastCallAt = Number.NEGATIVE_INFINITY;
  /** When the handler call under way began; undefined between calls. */
  private handlingSince: number | undefined;
  /** Consecutive failed handler calls. */
  private failures = 0;
  private poison: Poison | undefined;
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  private timer: unknown;
  private commitChain: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Left by the journal's close while its handler ran: it saves and finishes nothing more. */
  private abandoned = false;
  private readonly retries: Backoff;
  /** Read through a call: stop() may run while this consumer awaits, which a narrowed field would hide. */
  private halted(): boolean {
    return this.stopped;
  }
  /** The consumer's own state went back to its position: deliver from there again. */
  private rewinding = false;
  /** Wakes the loop while it waits for appends. */
  private nudge: (() => void) | undefined;
  private signalStop: () => void = () => undefined;
  private readonly stopSignal = new Promise<void>((r) => {
    this.signalStop = r;
  });
  private readonly loop: Promise<void>;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly handler: ConsumerHandler,
    private readonly position: ConsumerPosition,
    start: number,
    private readonly pacing: Pacing,
    private readonly ctx: ConsumerContext,
  ) {
    this.processed = start;
    this.retries = { firstMs: 100, maxMs: pacing.maxBackoffMs };
    this.loop = this.run().catch((err: unknown) => {
      ctx.report('error', 'journal: consumer stopped on an unexpected error', {
        consumer: name,
        error: describeError(err),
      });
    });
  }

  /** The committed position. */
  get committed(): number {
    return this.position.committed;
  }

  /** The last LSN the handler has got through. */
  get handled(): number {
    return this.processed;
  }

  /** How long ago the oldest entry it has not handled became durable, ms; 0 when caught up. */
  behindMs(): number {
    const since = this.ctx.log.durableAt(this.processed);
    return since === undefined ? 0 : Math.max(0, this.ctx.clock.now() - since);
  }

  /** Stuck rather than slow: its last batch failed and it waits to try again, or its handler has been at one batch for longer than `ms`. */
  stuck(ms: number): boolean {
    return (
      this.failures > 0 ||
      this.poison !== undefined ||
      (this.handlingSince !== undefined && this.ctx.clock.now() - this.handlingSince > ms)
    );
  }

  /** The journal closes without waiting for it: its position stays as saved, what it held handed over again next start. */
  abandon(): void {
    this.abandoned = true;
    void this.stop();
  }

  /** Hands over again everything after the consumer's position, from the next call on. */
  rewind(): void {
    this.rewinding = true;
    this.nudge?.();
  }

  /** Waits for the batch in hand, then commits the position. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.signalStop();
      await this.loop;
      this.ctx.clock.clearTimeout(this.timer);
      this.timer = undefined;
      if (this.abandoned) {
        this.position.release();
        return;
      }
      if (this.ctx.finish) {
        try {
          await this.ctx.finish();
        } catch (err) {
          // What it could not finish stays held: the next start hands those entries over again.
          this.ctx.report('warn', 'journal: consumer could not finish what it held before stopping', {
            consumer: this.name,
            error: describeError(err),
          });
        }
      }
      await this.commit();
      this.position.release();
    })();
    return this.stopping;
  }

  private async run(): Promise<void> {
    const { log, clock } = this.ctx;
    const reader = log.reader(this.processed + 1);
    try {
      // A new position is saved, a consumer-kept one recorded, before anything is handed over.
      await this.commit();
      let readFailures = 0;
      while (!this.halted()) {
        const sinceCall = clock.now() - this.lastCallAt;
        if (sinceCall < this.pacing.minCallIntervalMs) {
          // At most the interval, whatever an injected clock did meanwhile.
          await this.pause(Math.min(this.pacing.minCallIntervalMs, this.pacing.minCallIntervalMs - sinceCall));
          if (this.halted()) return;
        }
        if (this.rewinding) await this.resume(reader);
        await this.keepWithinBound(reader);
        // Taken before reading, so an append that lands while we read still wakes us.
        const woke = log.nextDurable();
        if (await this.passSetAside(reader)) this.scheduleCommit();
        let batch: Batch | undefined;
        try {
          batch = await reader.read(this.deliveryLimit(reader.nextLsn));
          readFailures = 0;
        } catch (err) {
          readFailures += 1;
          this.ctx.report('error', 'journal: consumer could not read the journal', {
            consumer: this.name,
            lsn: reader.nextLsn,
            error: describeError(err),
            attempt: readFailures,
          });
          this.reportError(err, readFailures, false);
          await this.pause(backoffMs(readFailures, this.retries));
          continue;
        }
        if (!batch) {
          if (!this.rewinding) await Promise.race([woke, this.stopSignal, new Promise<void>((r) => (this.nudge = r))]);
          this.nudge = undefined;
          continue;
        }
        // Asked while this batch was read: it starts too late.
        if (this.rewinding) continue;
        const firstLsn = batch.lastLsn - batch.entries.length + 1;
        let failed = false;
        let failure: unknown;
        try {
          this.lastCallAt = clock.now();
          this.handlingSince = this.lastCallAt;
          await this.handler(batch.entries, batch.lastLsn);
        } catch (err) {
          failed = true;
          failure = err;
        } finally {
          this.handlingSince = undefined;
        }
        if (!failed) {
          this.failures = 0;
          this.cleared(firstLsn, batch.lastLsn);
          this.processed = batch.lastLsn;
          this.scheduleCommit();
          continue;
        }
        if (this.halted()) return;
        const waitMs = await this.onHandlerFailure(batch, firstLsn, failure);
        if (waitMs === 0) this.scheduleCommit();
        else await this.pause(waitMs);
        if (this.halted()) return;
        await this.resume(reader);
      }
    } finally {
      await reader.close();
    }
  }

  /** Delivery goes on after the position: for one the consumer keeps, what it has made durable. */
  private async resume(reader: EntryReader): Promise<void> {
    this.rewinding = false;
    this.processed = this.position.resumeAfter(this.processed);
    await reader.seek(this.processed + 1);
  }

  /** One bounded in how far behind it may be passes over the oldest entries it has not handled, past the bound. */
  private async keepWithinBound(reader: EntryReader): Promise<void> {
    const passed = this.ctx.log.durableLsn - this.pacing.keepsAtMost - this.processed;
    if (passed <= 0) return;
    this.processed += passed;
    this.poison = undefined;
    await reader.seek(this.processed + 1);
    this.scheduleCommit();
    tell(() => this.pacing.onPassedOver?.(passed));
  }

  /** Moves past entries this consumer set aside before, so they are never handed to it again; true when it did. */
  private async passSetAside(reader: EntryReader): Promise<boolean> {
    const setAside = this.ctx.setAside.lsns(this.name);
    if (setAside.size === 0) return false;
    let next = reader.nextLsn;
    while (next <= this.ctx.log.durableLsn && setAside.has(next)) next += 1;
    if (next === reader.nextLsn) return false;
    this.processed = next - 1;
    await reader.seek(next);
    return true;
  }

  /**
   * How many entries from `next` the consumer may be handed at once: never across an entry it set
   * aside, and while a failing run of entries is being narrowed down, only the entries before it,
   * then the run itself, then (after maxAttempts) one entry at a time.
   */
  private deliveryLimit(next: number): number {
    let limit = this.pacing.maxBatch;
    for (const lsn of this.ctx.setAside.lsns(this.name)) if (lsn > next && lsn - next < limit) limit = lsn - next;
    const p = this.poison;
    if (p && next <= p.hi) {
      if (next < p.lo) limit = Math.min(limit, p.lo - next);
      else limit = p.attempts >= this.pacing.maxAttempts ? 1 : Math.min(limit, p.hi - next + 1);
    }
    return limit;
  }

  /** A batch went through: whatever failed in that run before was not the entries' fault. */
  private cleared(first: number, last: number): void {
    const p = this.poison;
    if (!p || last < p.lo || first > p.hi) return;
    if (first <= p.lo && last >= p.hi) this.poison = undefined;
    else if (first <= p.lo) p.lo = last + 1;
  }

  /**
   * A handler call failed. A transient failure is retried for as long as it lasts. Otherwise the
   * run of entries that fails is narrowed down, and an entry that fails `maxAttempts` times alone is
   * set aside. Resolves with how long to wait before the next attempt: 0 when an entry was set
   * aside and the consumer moves on at once.
   */
  private async onHandlerFailure(batch: Batch, first: number, err: unknown): Promise<number> {
    this.failures += 1;
    this.reportError(err, this.failures, true);
    if (this.pacing.transient(err)) return backoffMs(this.failures, this.retries);
    const last = batch.lastLsn;
    const p = this.poison;
    if (!p || last < p.lo || first > p.hi) {
      this.poison = { lo: first, hi: last, attempts: 1 };
    } else {
      const lo = Math.max(first, p.lo);
      const hi = Math.min(last, p.hi);
      this.poison = lo === p.lo && hi === p.hi ? { lo, hi, attempts: p.attempts + 1 } : { lo, hi, attempts: 1 };
    }
    const poison = this.poison;
    // Entries are held against only for their own failures: the backoff follows this run's attempts.
    const waitMs = backoffMs(poison.attempts, this.retries);
    if (poison.lo !== poison.hi || first !== poison.lo || poison.attempts < this.pacing.maxAttempts) return waitMs;
    const entry = batch.entries[0];
    if (entry === undefined) return waitMs;
    try {
      await this.ctx.setAside.entry(this.name, poison.lo, entry, err);
    } catch (recordErr) {
      // Moving on without a record would lose the entry silently: try again after the backoff.
      this.ctx.report('error', 'journal: could not record an entry set aside; the consumer waits', {
        consumer: this.name,
        lsn: poison.lo,
        error: describeError(recordErr),
      });
      return waitMs;
    }
    this.ctx.report(
      'error',
      `journal: consumer ${this.name} set aside entry ${poison.lo} after ${poison.attempts} failed attempts; the entries after it carry on`,
      {
        consumer: this.name,
        lsn: poison.lo,
        error: describeError(err),
      },
    );
    this.poison = undefined;
    this.failures = 0;
    this.processed = poison.lo;
    return 0;
  }

  private reportError(err: unknown, attempt: number, fromHandler: boolean): void {
    const { onError } = this.pacing;
    if (onError) tell(() => onError(err, attempt));
    else if (fromHandler) {
      this.ctx.report('warn', 'journal: consumer handler failed; retrying the batch', {
        consumer: this.name,
        attempt,
        error: describeError(err),
      });
    }
  }

  /** Commits the position now, or schedules it within the commit interval. */
  private scheduleCommit(): void {
    const { clock } = this.ctx;
    const wait = this.lastCommitAt + this.pacing.commitIntervalMs - clock.now();
    if (wait <= 0) {
      void this.commit();
    } else if (this.timer === undefined) {
      this.timer = clock.setTimeout(
        () => {
          this.timer = undefined;
          void this.commit();
        },
        Math.min(wait, this.pacing.commitIntervalMs),
      );
    }
  }

  /** Commits the position; serialised, never rejects. */
  private commit(): Promise<void> {
    this.commitChain = this.commitChain.then(async () => {
      if (this.abandoned) return;
      const at = this.ctx.clock.now();
      if (await this.position.commit(this.processed)) this.lastCommitAt = at;
      await this.ctx.committed();
    });
    return this.commitChain;
  }

  private async pause(ms: number): Promise<void> {
    const { clock } = this.ctx;
    let timer: unknown;
    await Promise.race([
      new Promise<void>((r) => {
        timer = clock.setTimeout(r, ms);
      }),
      this.stopSignal,
    ]);
    clock.clearTimeout(timer);
  }
}
