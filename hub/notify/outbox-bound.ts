// How many notifications may wait for one target. A receiver away for weeks while alerts keep
// changing must not fill the disk the journal and the alert state share: past the bound the
// oldest of that target's notifications go, counted and logged (at most once a minute per
// target), but not those being handed over. The others' queues are untouched.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';

const LOG_EVERY_MS = 60_000;

export interface WaitingBoundOptions {
  db: Database.Database;
  /** Most notifications kept waiting for each target (notify.max_undelivered). */
  max: number;
  /** The rows waiting for a target, counted in the database (Outbox.waiting). */
  waiting: (target: string) => number;
  log: Logger;
  now: () => number;
  /** Told of each drop: the target as alerts name it, and how many went. */
  onDropped?: (target: string, count: number) => void;
  /**
   * The rows of the target being handed over now: they stay (a delivery that gets through was not
   * dropped), so the bound may be passed by one batch while it is on its way.
   */
  handedOver?: (target: string) => readonly number[];
}

interface Kept {
  /**
   * Rows waiting, counted at start, at each reload and after a transaction that rolled back, and
   * kept up since, so a drop past the bound is one indexed delete rather than a count of every
   * row. A notification rolled back and another queued before the first's transaction has been
   * settled (in the same turn) can leave it one high until the next count.
   */
  count: number;
  /** Dropped since the hub started. */
  dropped: number;
  /** Dropped since the last log line, and when that was. */
  unlogged: number;
  loggedAt: number;
}

/** A target's rows queued and dropped in a transaction not yet ended, which may roll back and undo them. */
interface Unsettled {
  kept: Kept;
  label: string;
  queued: number[];
  dropped: number[];
}

export class WaitingBound {
  private readonly kept = new Map<string, Kept>();
  private unsettled = new Map<string, Unsettled>();

  constructor(private readonly options: WaitingBoundOptions) {}

  /** The row `id` was queued for the target, in the caller's transaction: past the bound the oldest go. */
  added(target: string, label: string, id: number): void {
    const kept = this.of(target);
    kept.count += 1;
    this.inTransaction(target, label)?.queued.push(id);
    if (kept.count > this.options.max) this.trim(target, label);
  }

  /** Rows of the target were delivered or set aside. */
  removed(target: string, count: number): void {
    const kept = this.kept.get(target);
    if (kept) kept.count = Math.max(0, kept.count - count);
  }

  /** At start and at a reload (which may lower the bound): every target is counted and trimmed. */
  reset(targets: ReadonlyArray<{ name: string; label: string }>, max = this.options.max): void {
    this.options.max = max;
    const names = new Set(targets.map((t) => t.name));
    for (const name of this.kept.keys()) if (!names.has(name)) this.kept.delete(name);
    for (const { name, label } of targets) {
      this.of(name).count = this.options.waiting(name);
      this.trim(name, label);
    }
  }

  /** Notifications of the target dropped since the hub started. */
  dropped(target: string): number {
    return this.kept.get(target)?.dropped ?? 0;
  }

  private of(target: string): Kept {
    let kept = this.kept.get(target);
    if (!kept) {
      kept = { count: 0, dropped: 0, unlogged: 0, loggedAt: Number.NEGATIVE_INFINITY };
      this.kept.set(target, kept);
    }
    return kept;
  }

  private trim(target: string, label: string): void {
    const { db, max } = this.options;
    const kept = this.of(target);
    const excess = kept.count - max;
    if (excess <= 0) return;
    // The oldest go, found by the (target, id) index: no scan of the rows that stay.
    const ids = db
      .prepare(
        'DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE target = ? AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?) RETURNING id',
      )
      .pluck()
      .all(target, JSON.stringify(this.options.handedOver?.(target) ?? []), excess) as number[];
    if (ids.length === 0) return;
    kept.count -= ids.length;
    const unsettled = this.inTransaction(target, label);
    if (unsettled) unsettled.dropped.push(...ids);
    else this.countDropped(kept, label, ids.length);
  }

  /**
   * In a transaction, which may yet roll back and undo what was queued and dropped in it, a drop
   * is told and logged once the transaction has ended, and only if the rows are really gone.
   */
  private inTransaction(target: string, label: string): Unsettled | undefined {
    if (!this.options.db.inTransaction) return undefined;
    if (this.unsettled.size === 0) queueMicrotask(this.settle);
    let unsettled = this.unsettled.get(target);
    if (!unsettled) {
      unsettled = { kept: this.of(target), label, queued: [], dropped: [] };
      this.unsettled.set(target, unsettled);
    }
    return unsettled;
  }

  private readonly settle = (): void => {
    const { db, waiting, log } = this.options;
    if (db.open && db.inTransaction) {
      setImmediate(this.settle);
      return;
    }
    const all = this.unsettled;
    this.unsettled = new Map();
    if (!db.open) return;
    try {
      // Looked up by id, which is not used again once committed (AUTOINCREMENT): a dropped row
      // there again, or a queued one gone, was undone by a rollback.
      const present = db.prepare('SELECT COUNT(*) FROM outbox WHERE id IN (SELECT value FROM json_each(?))').pluck();
      const count = (ids: readonly number[]) => (ids.length === 0 ? 0 : (present.get(JSON.stringify(ids)) as number));
      for (const [target, { kept, label, queued, dropped }] of all) {
        if (this.kept.get(target) !== kept) continue;
        const gone = new Set(dropped);
        const stayed = queued.filter((id) => !gone.has(id));
        const back = count(dropped);
        if (back > 0 || count(stayed) < stayed.length) kept.count = waiting(target);
        if (back < dropped.length) this.countDropped(kept, label, dropped.length - back);
      }
    } catch (err) {
      // Outside the caller's transaction, where its failure would end the hub: the count waits for the next reload.
      log.warn(
        `could not check the alert notifications dropped past notify.max_undelivered: ${(err as Error).message}`,
      );
    }
  };

  /** Rows gone for the bound: counted, told, and logged at most once a minute. */
  private countDropped(kept: Kept, label: string, count: number): void {
    const { max, log, now } = this.options;
    kept.dropped += count;
    kept.unlogged += count;
    this.options.onDropped?.(label, count);
    const at = now();
    if (at - kept.loggedAt < LOG_EVERY_MS) return;
    log.warn(
      { target: label, dropped: kept.unlogged, kept: max },
      `${max} alert notifications wait for ${label}, the most kept (notify.max_undelivered): the oldest ${kept.unlogged} were dropped`,
    );
    kept.loggedAt = at;
    kept.unlogged = 0;
  }
}
