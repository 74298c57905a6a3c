// The durable outbox: notifications waiting for a webhook receiver or for the store's alert
// history, in the alert state's own database. A row is written in the same transaction as the
// alert transition that produced it and deleted only once its target took it, so a receiver that
// is down for an hour gets everything, in order, when it is back; retries back off exponentially.
// A notification the target refuses for good (a 400 from a webhook, alert history the store
// cannot hold) must not hold back every one after it: it is found by delivering one at a time,
// and after a few attempts set aside (recorded, logged) so the rest flow.
import { backoffMs } from '../domain/backoff.ts';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';

/** setTimeout/clearTimeout, injectable so tests run the backoff on their own clock. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface OutboxTarget {
  /** Stable name, stored with each row: 'store', or 'webhook <url>'. */
  name: string;
  /** Most rows handed over at once. */
  batch: number;
  /**
   * Resolves once the target has every row; rejects to retry all of them later. `retry`: the
   * rows may have been handed over before (an earlier attempt failed).
   */
  deliver(rows: readonly OutboxRow[], attempt?: { retry: boolean }): Promise<void>;
  /** True for an error that refuses the rows themselves, not the target's state: retrying cannot help. */
  refusedForGood?(err: unknown): boolean;
}

export interface OutboxRow {
  id: number;
  payload: string;
  createdAt: number;
}

export interface OutboxOptions {
  db: Database.Database;
  targets: readonly OutboxTarget[];
  log: Logger;
  now: () => number;
  timers?: Timers;
  retryFirstMs: number;
  retryMaxMs: number;
  /** Records a notification given up on; resolves once that record is durable. */
  setAside?: (target: string, row: OutboxRow, err: unknown) => Promise<void>;
  /**
   * In a cluster: resolves once the rows are where the cluster keeps them, so no row is sent that
   * a next leader would not know of; a rejection is a failed delivery, retried.
   */
  ready?: () => Promise<void>;
}

/** Attempts at a notification refused for good, alone, before it is set aside. */
const REFUSED_ATTEMPTS = 3;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_target ON outbox (target, id);
`;

interface Lane {
  target: OutboxTarget;
  running?: Promise<void>;
  timer?: unknown;
  failures: number;
  closed: boolean;
  /** Rows to deliver one at a time, to find the one refused for good. */
  singles: number;
  /** The row refused for good, and how many times alone. */
  refused?: { id: number; attempts: number };
}

export class Outbox {
  private readonly lanes = new Map<string, Lane>();
  private readonly db: Database.Database;
  private readonly timers: Timers;

  constructor(private readonly options: OutboxOptions) {
    this.db = options.db;
    this.timers = options.timers ?? realTimers;
    this.db.exec(SCHEMA);
    for (const target of options.targets)
      this.lanes.set(target.name, { target, failures: 0, closed: false, singles: 0 });
    const orphans = this.db.prepare('SELECT target, count(*) AS n FROM outbox GROUP BY target').all() as {
      target: string;
      n: number;
    }[];
    for (const { target, n } of orphans) {
      if (this.lanes.has(target)) continue;
      options.log.warn(
        { target, dropped: n },
        `dropping ${n} undelivered notifications for ${target}, which is no longer configured`,
      );
      this.db.prepare('DELETE FROM outbox WHERE target = ?').run(target);
    }
  }

  /** Creates the outbox's table in a database, for a copy of it kept without delivering (a cluster's replica). */
  static prepare(db: Database.Database): void {
    db.exec(SCHEMA);
  }

  /** Queues a payload; call inside the transaction that makes the reason for it durable. */
  enqueue(target: string, payload: string): void {
    if (!this.lanes.has(target)) return;
    this.db
      .prepare('INSERT INTO outbox (target, payload, created_at) VALUES (?, ?, ?)')
      .run(target, payload, this.options.now());
  }

  /** Starts delivering whatever waits, for every target not already at it or backing off. */
  kick(): void {
    for (const lane of this.lanes.values()) {
      if (lane.running || lane.timer !== undefined || lane.closed) continue;
      const running = this.drain(lane);
      lane.running = running;
      void running.finally(() => {
        if (lane.running === running) delete lane.running;
      });
    }
  }

  waiting(target?: string): number {
    const row = (
      target === undefined
        ? this.db.prepare('SELECT count(*) AS n FROM outbox').get()
        : this.db.prepare('SELECT count(*) AS n FROM outbox WHERE target = ?').get(target)
    ) as { n: number };
    return row.n;
  }

  /** Stops retrying and waits for deliveries in flight; what is left is delivered after the next start. */
  async close(): Promise<void> {
    for (const lane of this.lanes.values()) {
      lane.closed = true;
      if (lane.timer !== undefined) this.timers.clearTimeout(lane.timer);
      delete lane.timer;
    }
    await Promise.all([...this.lanes.values()].flatMap((l) => (l.running ? [l.running] : [])));
  }

  private async drain(lane: Lane): Promise<void> {
    const { target } = lane;
    const select = this.db.prepare(
      'SELECT id, payload, created_at AS createdAt FROM outbox WHERE target = ? ORDER BY id LIMIT ?',
    );
    while (!lane.closed && this.db.open) {
      const rows = select.all(target.name, lane.singles > 0 ? 1 : target.batch) as OutboxRow[];
      if (rows.length === 0) return;
      try {
        await this.options.ready?.();
        await target.deliver(rows, { retry: lane.failures > 0 || lane.singles > 0 });
      } catch (err) {
        if (target.refusedForGood?.(err) && (await this.refused(lane, rows, err))) continue;
        lane.failures += 1;
        const wait = backoffMs(lane.failures, { firstMs: this.options.retryFirstMs, maxMs: this.options.retryMaxMs });
        // The first failure and then every tenth, so an hour-long outage is not a wall of lines.
        if (lane.failures === 1 || lane.failures % 10 === 0) {
          this.options.log.warn(
            { target: target.name, attempt: lane.failures, waiting: this.waiting(target.name) },
            `cannot deliver alert notifications to ${target.name} (${(err as Error).message}); they are kept and retried in ${Math.round(wait / 1000)} s`,
          );
        }
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the delivery
        if (!lane.closed) {
          lane.timer = this.timers.setTimeout(() => {
            delete lane.timer;
            this.kick();
          }, wait);
        }
        return;
      }
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the database may have closed during the delivery
      if (!this.db.open) return;
      this.db.prepare('DELETE FROM outbox WHERE target = ? AND id <= ?').run(target.name, rows.at(-1)!.id);
      if (lane.failures > 0)
        this.options.log.info(
          { target: target.name },
          `alert notifications reach ${target.name} again; sending what waited`,
        );
      lane.failures = 0;
      lane.singles = Math.max(0, lane.singles - 1);
      delete lane.refused;
    }
  }

  /**
   * The target refused these rows for good. A batch is taken apart; a row refused alone
   * REFUSED_ATTEMPTS times is set aside. True when the lane should go on at once.
   */
  private async refused(lane: Lane, rows: readonly OutboxRow[], err: unknown): Promise<boolean> {
    const { target } = lane;
    if (rows.length > 1) {
      lane.singles = rows.length;
      return true;
    }
    const row = rows[0]!;
    const attempts = lane.refused?.id === row.id ? lane.refused.attempts + 1 : 1;
    lane.refused = { id: row.id, attempts };
    if (attempts < REFUSED_ATTEMPTS) return false;
    try {
      await this.options.setAside?.(target.name, row, err);
    } catch (recordErr) {
      this.options.log.error(
        { target: target.name, err: (recordErr as Error).message },
        `could not record a notification ${target.name} refused; it stays queued`,
      );
      return false;
    }
    if (!this.db.open) return false;
    this.db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
    this.options.log.error(
      { target: target.name, delivery: row.id, err: (err as Error).message },
      `${target.name} refused a notification ${attempts} times (${(err as Error).message}); it is set aside (GET /api/v1/rejections?stage=notify) and the notifications after it are sent`,
    );
    delete lane.refused;
    lane.failures = 0;
    lane.singles = Math.max(0, lane.singles - 1);
    return true;
  }
}
