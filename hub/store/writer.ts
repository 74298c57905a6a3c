// The store writer: the journal consumer that puts readings into the store. A store that is
// unavailable fails the batch, which the journal retries with backoff, so an outage leaves a
// backlog in the journal, never a gap. A store that refuses some readings for good (a field type
// conflict, a series limit) must not hold back the rest: the batch is split until the refused
// readings are found, everything else is written at once, and the refused ones are set aside with
// the database's own reason before the journal moves past them.
//
// The minutes the stored readings touched wait (pending-minutes.ts) until they close, then are
// rolled up together; the writer's journal position holds at the oldest one still waiting.
import type { Logger } from 'pino';
import type { Entry, Reading } from '../domain/reading.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { PendingMinutes } from './pending-minutes.ts';
import { StoreRefusal, type Store } from './store.ts';

export interface RefusedReading {
  device: string;
  metric: string;
  ts: number;
  value: number;
  /** The database's reason. */
  reason: string;
}

export interface StoreWriterState {
  ok: boolean;
  /** When the current outage began (ms), if there is one. */
  downSince?: number;
  lastError?: string;
  lastWriteAt?: number;
  /** Readings the store refused for good since the hub started. */
  refused: number;
  /** When the store last refused a reading, and why. */
  lastRefusalAt?: number;
  lastRefusal?: string;
  /** Minute aggregates the store refused since the hub started, and the last reason. */
  minutesDropped: number;
  lastMinutesDrop?: string;
}

export interface StoreWriterOptions {
  store: Store;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Keeps what the store refused, durably: resolves once it is recorded. */
  setAside: (refused: readonly RefusedReading[]) => Promise<void>;
  /** Most (device, metric, minute)s waiting for their roll-up (storage.minutes_waiting_max). */
  minutesWaitingMax: number;
  /**
   * Time that only goes forward, in ms, for how long a call has waited: the hub's clock may be
   * stepped while a write is under way, and a write asked before a step is not an hour old.
   */
  elapsed?: () => number;
}

/** The log names the store's refusals at most this often; the rest are counted and listed. */
const REFUSAL_LOG_EVERY_MS = 60_000;

export class StoreWriter {
  readonly state: StoreWriterState = { ok: true, refused: 0, minutesDropped: 0 };
  readonly minutes: PendingMinutes;
  private refusalLoggedAt = -Infinity;
  private refusalsUnlogged = 0;
  private fullLoggedAt = -Infinity;
  /** The writes and roll-ups asked of the store and not answered yet, each with when it was asked (`elapsed`). */
  private readonly asked = new Set<{ at: number }>();

  constructor(private readonly options: StoreWriterOptions) {
    this.minutes = new PendingMinutes({
      rollUp: (touched) => this.ask(() => options.store.rollUp(touched)),
      now: options.now,
      max: options.minutesWaitingMax,
    });
  }

  /**
   * Since when the store has left a write or a roll-up unanswered, if it has one: a store that
   * hangs (a disk, a database that took the connection and went quiet) fails nothing.
   */
  unansweredFor(): number | undefined {
    // A Set keeps the order calls were asked in: the first is the oldest.
    const oldest = this.asked.values().next().value;
    return oldest === undefined ? undefined : this.elapsed() - oldest.at;
  }

  private elapsed(): number {
    return this.options.elapsed?.() ?? performance.now();
  }

  private async ask<T>(call: () => Promise<T>): Promise<T> {
    const asked = { at: this.elapsed() };
    this.asked.add(asked);
    try {
      return await call();
    } finally {
      this.asked.delete(asked);
    }
  }

  /** The journal position holds here: the last LSN whose minutes are all rolled up. */
  readonly held = (): number | undefined => this.minutes.held();

  /** Rolls up the minutes that are due (the hub's tick); a store that is down is waited for. */
  readonly rollUpDue = async (): Promise<void> => {
    await this.rollUp(false).catch(() => undefined);
  };

  /** Rolls up every minute waiting, closed or not (the hub stops). */
  readonly finish = (): Promise<void> => this.rollUp(true);

  /** The journal handler: resolves when every reading of the batch is stored or set aside. */
  readonly write = async (entries: readonly Entry[], lastLsn: number): Promise<void> => {
    const { store, metrics, log, now } = this.options;
    const readings: Reading[] = [];
    for (const entry of entries) if (entry.type === 'readings') readings.push(...entry.readings);
    if (readings.length === 0) return;
    const stopTimer = metrics.storeWriteSeconds.startTimer();
    const startedAt = now();
    let refused: RefusedReading[];
    try {
      refused = await this.writeTaking(readings);
      if (refused.length > 0) await this.options.setAside(refused);
    } catch (err) {
      metrics.storeWriteFailures.inc();
      const message = (err as Error).message;
      if (this.state.ok) {
        log.error(
          { store: store.name, err: message },
          `storage down: cannot write to ${store.name} (${message}); readings are kept in the journal and will be written when it is back`,
        );
        // From when this batch was asked: a write that hung before it failed was down all along.
        this.state.downSince = startedAt;
      }
      this.state.ok = false;
      this.state.lastError = message;
      throw err;
    }
    stopTimer();
    const stored = readings.length - refused.length;
    metrics.readingsStored.inc(stored);
    const storedAt = now();
    for (const r of readings) metrics.readingAgeAtStore.observe((storedAt - r.ts) / 1000);
    if (refused.length > 0) this.noteRefusals(refused);
    if (!this.state.ok) {
      const downFor = Math.round((now() - (this.state.downSince ?? now())) / 1000);
      log.warn(
        { store: store.name },
        `storage back after ${downFor} s: ${store.name} accepts writes again; writing the backlog`,
      );
      this.state.ok = true;
      delete this.state.downSince;
      delete this.state.lastError;
    }
    this.state.lastWriteAt = now();
    this.minutes.add(readings, lastLsn - entries.length);
    if (this.minutes.full) {
      if (now() - this.fullLoggedAt >= REFUSAL_LOG_EVERY_MS) {
        log.warn(
          { waiting: this.minutes.size },
          `${this.minutes.size} 1-minute aggregates wait to be rolled up (storage.minutes_waiting_max); rolling them all up before storing more`,
        );
        this.fullLoggedAt = now();
      }
      // A failure here fails the batch, which the journal repeats: its readings are written again, harmlessly.
      await this.rollUp(true);
    }
  };

  private async rollUp(all: boolean): Promise<void> {
    const { metrics, log, store } = this.options;
    try {
      const done = await this.minutes.rollUp(all);
      metrics.minutesRolledUp.inc(done.rolled);
      if (done.dropped > 0) {
        metrics.minutesDropped.inc(done.dropped);
        this.state.minutesDropped += done.dropped;
        this.state.lastMinutesDrop = done.reason;
        log.error(
          { store: store.name, dropped: done.dropped, err: done.reason },
          `${store.name} refused ${done.dropped} 1-minute aggregate(s) for good (${done.reason}); their raw readings are stored`,
        );
      }
    } finally {
      metrics.minutesWaiting.set(this.minutes.size);
    }
  }

  /**
   * Writes what the store takes; resolves with the readings it refused for good. Halves a refused
   * batch until each refusal is pinned to its readings, unless the store says it dropped all of
   * them. Any error other than a refusal (the store unavailable) fails the whole call.
   */
  private async writeTaking(readings: readonly Reading[]): Promise<RefusedReading[]> {
    try {
      await this.ask(() => this.options.store.write(readings));
      return [];
    } catch (err) {
      if (!(err instanceof StoreRefusal)) throw err;
      if (readings.length === 1 || err.dropped === readings.length) {
        return readings.map((r) => ({
          device: r.device,
          metric: r.metric,
          ts: r.ts,
          value: r.value,
          reason: err.message,
        }));
      }
      const half = Math.ceil(readings.length / 2);
      const first = await this.writeTaking(readings.slice(0, half));
      const second = await this.writeTaking(readings.slice(half));
      return first.concat(second);
    }
  }

  private noteRefusals(refused: readonly RefusedReading[]): void {
    const { metrics, log, now, store } = this.options;
    metrics.storeRefused.inc(refused.length);
    const at = now();
    const last = refused.at(-1)!;
    this.state.refused += refused.length;
    this.state.lastRefusalAt = at;
    this.state.lastRefusal = last.reason;
    if (at - this.refusalLoggedAt < REFUSAL_LOG_EVERY_MS) {
      this.refusalsUnlogged += refused.length;
      return;
    }
    const earlier = this.refusalsUnlogged > 0 ? ` (and ${this.refusalsUnlogged} more since the last notice)` : '';
    log.warn(
      { store: store.name, refused: refused.length, device: last.device, metric: last.metric },
      `${store.name} refused ${refused.length} reading(s) for good${earlier}, e.g. ${last.metric} ${last.value} from ${last.device}: ${last.reason}; the other readings are stored, and the refused ones are listed at GET /api/v1/rejections?stage=store`,
    );
    this.refusalLoggedAt = at;
    this.refusalsUnlogged = 0;
  }
}
