// The durable outbox: notifications waiting for a receiver or the store's alert history, in the
// alert state's database. A row is written in the transaction of the alert transition that made it
// and deleted once its target took it: a receiver down for an hour gets everything, in order, when
// back; retries back off exponentially, and `failing()` says who has been failing since when.
// A notification the target refuses for good (a 400 from a webhook, alert history the store
// cannot hold) must not hold back every one after it: it is found by delivering one at a time,
// and after a few attempts set aside (recorded, logged) so the rest flow.
//
// Rows may belong to a group (a route's alerts of one zone and kind, say): a group's rows wait
// for each other and go out together, handed to the target as one delivery. A new group waits
// `waitMs` for more; once a group has gone out, what joins it waits until `intervalMs` after.
import { backoffMs, type Backoff } from '../domain/backoff.ts';
import * as lanes from './outbox-lane.ts';
import { within } from '../domain/deadline.ts';
import { backgroundTimers, type Timers } from '../domain/timers.ts';
import type Database from 'better-sqlite3';
import { WaitingBound } from './outbox-bound.ts';
import * as tables from './outbox-tables.ts';
import type { Logger } from 'pino';

export interface OutboxTarget {
  /** Stable name, stored with each row: 'store', or 'webhook <url>'. */
  name: string;
  label?: string; // how alerts name it, when the name holds what not everyone may read
  /** Most rows handed over at once. */
  batch: number;
  /**
   * Resolves once the target has every row; rejects to retry all of them later. `retry`: the
   * rows may have been handed over before (an earlier attempt failed).
   */
  deliver(rows: readonly OutboxRow[], attempt?: { retry: boolean }): Promise<void>;
  /** True for an error that refuses the rows themselves, not the target's state: retrying cannot help. */
  refusedForGood?(err: unknown): boolean;
  /** How long the target asked to be left alone after this error (HTTP Retry-After), if it did. */
  retryAfterMs?(err: unknown): number | undefined;
}

export interface OutboxRow {
  id: number;
  payload: string;
  createdAt: number;
  /** The group the row went out with, if any. */
  grp: string | null;
}

/** A row's group, and how long the group waits before going out. */
export interface OutboxGroup {
  key: string;
  waitMs: number;
  intervalMs: number;
}

export interface OutboxOptions {
  db: Database.Database;
  targets: readonly OutboxTarget[];
  log: Logger;
  now: () => number;
  timers?: Timers;
  retryFirstMs: number;
  retryMaxMs: number;
  /** Most notifications kept waiting for each target; past it the oldest go (outbox-bound.ts). */
  maxWaiting: number;
  /** Told of notifications dropped past maxWaiting: the target as alerts name it, and how many. */
  onDropped?: (target: string, count: number) => void;
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
/** How long a stopping outbox waits for deliveries in flight: less than a part's stop limit. */
const CLOSE_WAIT_MS = 2_000;

export class Outbox {
  private readonly lanes = new Map<string, lanes.Lane>();
  private readonly db: Database.Database;
  private readonly timers: Timers;
  private readonly bound: WaitingBound;
  private readonly backoff: Backoff;

  constructor(private readonly options: OutboxOptions) {
    this.db = options.db;
    this.timers = options.timers ?? backgroundTimers;
    // As the options say at each retry: a reload may change them (setTargets).
    this.backoff = {
      get firstMs() {
        return options.retryFirstMs;
      },
      get maxMs() {
        return options.retryMaxMs;
      },
    };
    tables.ensureSchema(this.db);
    tables.countWaitingFromNowOn(this.db);
    const { log, now, maxWaiting: max, onDropped } = options;
    const waiting = (target: string) => this.waiting(target);
    const handedOver = (target: string) => this.lanes.get(target)?.handedOver ?? [];
    this.bound = new WaitingBound({ db: this.db, max, waiting, log, now, handedOver, ...(onDropped && { onDropped }) });
    this.setTargets(options.targets);
  }

  /**
   * The targets to deliver to, at start and when a reloaded configuration changes them. A target
   * that stays keeps its queue and its backoff; what waits for one no longer configured is dropped
   * (and logged), with what it was following: nobody is to hear from it again.
   */
  setTargets(
    targets: readonly OutboxTarget[],
    limits?: Pick<OutboxOptions, 'retryFirstMs' | 'retryMaxMs' | 'maxWaiting'>,
  ): void {
    if (limits) Object.assign(this.options, limits);
    const names = new Set(targets.map((t) => t.name));
    for (const [name, lane] of this.lanes) {
      if (names.has(name)) continue;
      this.stopLane(lane);
      this.lanes.delete(name);
    }
    for (const target of targets) {
      const lane = this.lanes.get(target.name);
      if (lane) lane.target = target;
      else this.lanes.set(target.name, lanes.newLane(target, this.backoff, this.options.now));
    }
    for (const { target, n } of tables.targetsKept(this.db)) {
      if (this.lanes.has(target)) continue;
      if (n > 0)
        this.options.log.warn(
          { target, dropped: n },
          `dropping ${n} undelivered notifications for ${target}, which is no longer configured`,
        );
      tables.dropTarget(this.db, target);
    }
    this.bound.reset(
      targets.map((t) => ({ name: t.name, label: t.label ?? t.name })),
      this.options.maxWaiting,
    );
  }

  /** Creates the outbox's table in a database, for a copy of it kept without delivering (a cluster's replica). */
  static prepare(db: Database.Database): void {
    tables.ensureSchema(db);
  }

  /** Queues a payload; call inside the transaction that makes the reason for it durable. */
  enqueue(target: string, payload: string, group?: OutboxGroup): void {
    const lane = this.lanes.get(target);
    if (!lane) return;
    const now = this.options.now();
    this.db
      .prepare('INSERT INTO outbox (target, payload, created_at, grp, due_at) VALUES (?, ?, ?, ?, ?)')
      .run(target, payload, now, group?.key ?? null, group ? this.dueAt(lane, group, now) : 0);
    this.bound.added(target, lane.target.label ?? target);
  }

  /**
   * The targets told of an alert so far, each with its group: every later notice of the alert
   * goes to them too (its resolution above all), in the same group, so none overtakes another.
   */
  followers(alertId: number): tables.Follower[] {
    return tables.followersOf(this.db, alertId);
  }

  follow(alertId: number, f: tables.Follower): void {
    tables.addFollower(this.db, alertId, f);
  }

  /** The alert is over: nothing more follows it. */
  unfollow(alertId: number): void {
    this.db.prepare('DELETE FROM outbox_followers WHERE alert_id = ?').run(alertId);
  }

  /** When a row of a group goes out: with the group's waiting rows, or after its wait or interval. */
  private dueAt(lane: lanes.Lane, group: OutboxGroup, now: number): number {
    // Rows of the group being handed over now are as good as sent: a new one waits the interval.
    const sending = lane.sending?.grp === group.key ? lane.sending.upTo : 0;
    return tables.groupDueAt(this.db, lane.target.name, group, sending, now);
  }

  /** Starts delivering whatever waits, for every target not already at it or backing off. */
  kick(): void {
    for (const lane of this.lanes.values()) this.start(lane);
  }

  private start(lane: lanes.Lane): void {
    if (lane.running) lane.again = true;
    if (lane.running || lane.timer !== undefined || lane.closed) return;
    if (lane.wake !== undefined) this.timers.clearTimeout(lane.wake);
    delete lane.wake;
    lane.again = false;
    const running = this.drain(lane).catch((err: unknown) => this.databaseFailed(lane, err));
    lane.running = running;
    void running.finally(() => {
      if (lane.running !== running) return;
      delete lane.running;
      if (lane.again) this.start(lane);
    });
  }

  /**
   * The targets whose deliveries fail now: since when, the last reason, how many notifications
   * wait, and how many of the oldest were dropped past the bound since the failing began.
   */
  failing(): Array<{ target: string; since: number; error: string; waiting: number; dropped: number }> {
    return [...this.lanes.values()].flatMap(({ target: { name, label }, failing }) => {
      if (!failing) return [];
      const { since, error, droppedBefore } = failing;
      const dropped = this.bound.dropped(name) - droppedBefore;
      return [{ target: label ?? name, since, error, waiting: this.waiting(name), dropped }];
    });
  }

  waiting(target?: string): number {
    return tables.countWaiting(this.db, target);
  }

  /** Stops retrying; deliveries in flight get CLOSE_WAIT_MS, then are left for the next start. */
  async close(): Promise<void> {
    for (const lane of this.lanes.values()) this.stopLane(lane);
    const busy = [...this.lanes.values()].flatMap((l) => (l.running ? [l.running] : []));
    if (await within(Promise.all(busy), CLOSE_WAIT_MS, this.timers)) return;
    const late = [...this.lanes.values()].flatMap((l) => (l.running ? [l.target.name] : []));
    this.options.log.info(
      `notifications still on their way to ${late.join(', ')} at stop: sent again after the next start`,
    );
  }

  /** No more attempts on the lane; a delivery in flight finishes. */
  private stopLane(lane: lanes.Lane): void {
    lane.closed = true;
    for (const handle of [lane.timer, lane.wake]) if (handle !== undefined) this.timers.clearTimeout(handle);
    delete lane.timer;
    delete lane.wake;
  }

  private async drain(lane: lanes.Lane): Promise<void> {
    const { target } = lane;
    while (!lane.closed && this.db.open) {
      if (lane.setAside) this.removeSetAside(lane);
      if (lane.taken) this.took(lane, lane.taken);
      const rows = this.due(lane);
      if (rows.length === 0) {
        this.wakeLater(lane);
        return;
      }
      const grp = rows[0]?.grp;
      if (grp !== null && grp !== undefined) lane.sending = { grp, upTo: rows.at(-1)?.id ?? 0 };
      lane.handedOver = rows.map((r) => r.id);
      try {
        await this.options.ready?.();
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- closed during ready(): kept for the next start
        if (lane.closed) throw new Error('the outbox closed');
        await target.deliver(rows, { retry: lane.failures > 0 || lane.singles > 0 });
      } catch (err) {
        delete lane.sending;
        // Stopping: the rows stay for the next start.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run during the delivery
        if (lane.closed) {
          delete lane.handedOver;
          return;
        }
        // Kept while a refused row is set aside, so the bound does not count it dropped as well.
        const setAside = target.refusedForGood?.(err) === true && (await this.refused(lane, rows, err));
        delete lane.handedOver;
        if (setAside) continue;
        const reason = err instanceof Error ? err.message : String(err); // a target may reject with anything
        lanes.deliveryFailed(lane, reason, this.options.now(), this.bound.dropped(target.name));
        const wait = Math.max(backoffMs(lane.failures, this.backoff), target.retryAfterMs?.(err) ?? 0);
        // The first failure and then every tenth, so an hour-long outage is not a wall of lines.
        if (lane.failures === 1 || lane.failures % 10 === 0) {
          this.options.log.warn(
            { target: target.name, attempt: lane.failures, waiting: this.waiting(target.name) },
            `cannot deliver alert notifications to ${target.name} (${reason}); they are kept and retried in ${Math.round(wait / 1000)} s`,
          );
        }
        this.retryIn(lane, wait);
        return;
      }
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the database may have closed during the delivery
      if (!this.db.open) return;
      this.took(lane, rows);
    }
  }

  /** The rows due first: the oldest due row, and those due with it (its group's, or others in no group). */
  private due(lane: lanes.Lane): OutboxRow[] {
    const { name, batch } = lane.target;
    return tables.dueRows(this.db, name, this.options.now(), lane.singles > 0 ? 1 : batch);
  }

  /** The target took the rows: they go. Until they are deleted they are neither sent again nor dropped by the bound. */
  private took(lane: lanes.Lane, rows: readonly OutboxRow[]): void {
    const { name } = lane.target;
    const [now, ids] = [this.options.now(), rows.map((r) => r.id)];
    lane.taken = rows;
    this.db.transaction(() => {
      const grp = rows[0]?.grp;
      if (grp !== null && grp !== undefined) tables.groupSent(this.db, name, grp, now);
      tables.removeRows(this.db, ids);
    })();
    this.databaseWorks(lane);
    delete lane.taken;
    delete lane.sending;
    delete lane.handedOver;
    if (lane.failures > 0) this.options.log.info({ target: name }, `alert notifications reach ${name} again`);
    lanes.deliveryWorked(lane);
  }

  /** Tries the lane again in `ms`, unless it was closed meanwhile. */
  private retryIn(lane: lanes.Lane, ms: number): void {
    if (lane.closed) return;
    lane.timer = this.timers.setTimeout(() => {
      delete lane.timer;
      this.kick();
    }, ms);
  }

  /**
   * The outbox's rows could not be read or written: the lane waits and tries again, and says so
   * once per reason, rather than the failure ending the hub. Rows the target took stay out of
   * every delivery until they are deleted, so they are not sent again every retry.
   */
  private databaseFailed(lane: lanes.Lane, err: unknown): void {
    if (lane.closed || !this.db.open) return;
    const reason = err instanceof Error ? err.message : String(err);
    const { waitMs, news } = lanes.databaseTrouble(lane, reason);
    if (news)
      this.options.log.error(
        { target: lane.target.name, err: reason },
        `the alert database cannot be read or written (${reason}): notifications for ${lane.target.name} wait, tried again in ${Math.round(waitMs / 1000)} s and less often after`,
      );
    this.retryIn(lane, waitMs);
  }

  private databaseWorks(lane: lanes.Lane): void {
    if (lane.database.succeeded())
      this.options.log.info({ target: lane.target.name }, `the alert database answers again`);
  }

  /** Nothing due: wakes the lane when the next group is. */
  private wakeLater(lane: lanes.Lane): void {
    const next = tables.nextDueAt(this.db, lane.target.name);
    this.databaseWorks(lane);
    if (next === null || lane.closed) return;
    lane.wake = this.timers.setTimeout(
      () => {
        delete lane.wake;
        this.kick();
      },
      Math.max(0, next - this.options.now()),
    );
  }

  /**
   * The target refused these rows for good. A batch is taken apart; a row refused alone
   * REFUSED_ATTEMPTS times is set aside. True when the lane should go on at once.
   */
  private async refused(lane: lanes.Lane, rows: readonly OutboxRow[], err: unknown): Promise<boolean> {
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
    lane.setAside = { row, attempts, reason: (err as Error).message };
    this.removeSetAside(lane);
    return true;
  }

  /** A row recorded as set aside leaves the outbox; until it has, nothing else is sent (nor it again). */
  private removeSetAside(lane: lanes.Lane): void {
    const { row, attempts, reason } = lane.setAside!;
    const { name } = lane.target;
    tables.removeRows(this.db, [row.id]);
    this.databaseWorks(lane);
    this.options.log.error(
      { target: name, delivery: row.id, err: reason },
      `${name} refused a notification ${attempts} times (${reason}); it is set aside (GET /api/v1/rejections?stage=notify) and the notifications after it are sent`,
    );
    lanes.rowSetAside(lane);
  }
}
