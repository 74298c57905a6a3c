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
  /** The rows waiting for a target, as the database counts them in the caller's transaction (Outbox.waiting). */
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
  /** Dropped since the hub started. */
  dropped: number;
  /** Dropped since the last log line, and when that was. */
  unlogged: number;
  loggedAt: number;
}

/** A target's rows dropped in a transaction not yet ended, which may roll back and undo the drop. */
interface Unsettled {
  kept: Kept;
  label: string;
  dropped: number[];
}

export class WaitingBound {
  private readonly kept = new Map<string, Kept>();
  private unsettled = new Map<string, Unsettled>();

  constructor(private readonly options: WaitingBoundOptions) {}

  /** A row was queued for the target, in the caller's transaction: past the bound the oldest go. */
  added(target: string, label: string): void {
    this.trim(target, label);
  }

  /** At start and at a reload (which may lower the bound): every target is trimmed. */
  reset(targets: ReadonlyArray<{ name: string; label: string }>, max = this.options.max): void {
    this.options.max = max;
    const names = new Set(targets.map((t) => t.name));
    for (const name of this.kept.keys()) if (!names.has(name)) this.kept.delete(name);
    for (const { name, label } of targets) this.trim(name, label);
  }

  /** Notifications of the target dropped since the hub started. */
  dropped(target: string): number {
    return this.kept.get(target)?.dropped ?? 0;
  }

  private of(target: string): Kept {
    let kept = this.kept.get(target);
    if (!kept) {
      kept = { dropped: 0, unlogged: 0, loggedAt: Number.NEGATIVE_INFINITY };
      this.kept.set(target, kept);
    }
    return kept;
  }

  private trim(target: string, label: string): void {
    const { db, max, waiting } = this.options;
    const excess = waiting(target) - max;
    if (excess <= 0) return;
    // The oldest go, found by the (target, id) index: no scan of the rows that stay.
    const ids = db
      .prepare(
        'DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE target = ? AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?) RETURNING id',
      )
      .pluck()
      .all(target, JSON.stringify(this.options.handedOver?.(target) ?? []), excess) as number[];
    if (ids.length === 0) return;
    const unsettled = this.inTransaction(target, label);
    if (unsettled) unsettled.dropped.push(...ids);
    else this.countDropped(this.of(target), label, ids.length);
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
      unsettled = { kept: this.of(target), label, dropped: [] };
      this.unsettled.set(target, unsettled);
    }
    return unsettled;
  }

  private readonly settle = (): void => {
    const { db, log } = this.options;
    if (db.open && db.inTransaction) {
      setImmediate(this.settle);
      return;
    }
    const all = this.unsettled;
    this.unsettled = new Map();
    if (!db.open) return;
    try {
      // Looked up by id, which is not used again once committed (AUTOINCREMENT): a dropped row
      // there again was put back by a rollback. A target removed by a reload meanwhile still
      // has its committed drops told.
      const present = db.prepare('SELECT COUNT(*) FROM outbox WHERE id IN (SELECT value FROM json_each(?))').pluck();
      for (const { kept, label, dropped } of all.values()) {
        const back = present.get(JSON.stringify(dropped)) as number;
        if (back < dropped.length) this.countDropped(kept, label, dropped.length - back);
      }
    } catch (err) {
      // Outside the caller's transaction, where its failure would end the hub: those drops go untold.
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
