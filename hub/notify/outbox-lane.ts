// One target's lane in the outbox (outbox.ts): what it is delivering, its failed deliveries in a
// row and since when, the row it is finding refused for good, and trouble with the database.
import { FailureRun, type Backoff } from '../domain/backoff.ts';
import type { OutboxRow, OutboxTarget } from './outbox.ts';

export interface Lane {
  target: OutboxTarget;
  running?: Promise<void>;
  /** Waiting to retry after a failure. */
  timer?: unknown;
  /** Waiting for the next group to be due. */
  wake?: unknown;
  /** Kicked while delivering: look again once done, for rows the delivery may have missed. */
  again?: boolean;
  /** The group being delivered, and the last row of it handed over. */
  sending?: { grp: string; upTo: number };
  /** The ids of the rows being delivered. */
  handedOver?: readonly number[];
  /** Rows the target took whose deletion the database refused: deleted before anything else is sent. */
  taken?: readonly OutboxRow[];
  /** The row just set aside, until it has left the outbox: deleted before anything else is sent. */
  setAside?: { row: OutboxRow; attempts: number; reason: string };
  /** Reading or writing the outbox's rows failing (a disk full or read-only), and when to try again. */
  database: FailureRun;
  failures: number;
  closed: boolean;
  /** Rows to deliver one at a time, to find the one refused for good. */
  singles: number;
  /** The row refused for good, and how many times alone. */
  refused?: { id: number; attempts: number };
  failing?: { since: number; error: string; droppedBefore: number }; // until a delivery gets through
}

export function newLane(target: OutboxTarget, backoff: Backoff, now: () => number): Lane {
  return { target, failures: 0, closed: false, singles: 0, database: new FailureRun(backoff, now) };
}

/** A delivery failed: one more in a row, failing since the first; `dropped`, what the bound has dropped so far. */
export function deliveryFailed(lane: Lane, reason: string, now: number, dropped: number): void {
  lane.failures += 1;
  lane.failing = {
    since: lane.failing?.since ?? now,
    error: reason,
    droppedBefore: lane.failing?.droppedBefore ?? dropped,
  };
}

/** A delivery got through: the failures in a row are over. */
export function deliveryWorked(lane: Lane): void {
  lane.failures = 0;
  delete lane.failing;
  delete lane.refused;
  lane.singles = Math.max(0, lane.singles - 1);
}

/** The row refused for good is set aside: the rows after it are sent, one at a time until the batch it was in is through. */
export function rowSetAside(lane: Lane): void {
  delete lane.setAside;
  delete lane.refused;
  lane.failures = 0;
  lane.singles = Math.max(0, lane.singles - 1);
}

/** The database failed the lane: the wait before it tries again, and whether the reason is news. */
export function databaseTrouble(lane: Lane, reason: string): { waitMs: number; news: boolean } {
  const news = lane.database.problem !== reason;
  return { waitMs: lane.database.failed(reason), news };
}
