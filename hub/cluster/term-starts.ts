// How this hub's rules terms have been starting. A term that cannot start (the rules' state cannot
// be read from Redis: a command timed out, a key damaged) gives the lease up; its hub waits longer
// after each failure in a row before it asks for the lease again, so another hub may lead
// meanwhile, and its health says why no hub leads.
import { FailureRun } from '../domain/backoff.ts';

/** Longest a hub waits to ask for the rules lease again after its terms failed to start, unless one lease is longer. */
export const START_RETRY_MAX_MS = 30_000;

/** One lease after the first failed start, doubling to 30 s (or one lease, if longer). */
export function termStarts(leaseMs: number, now: () => number): FailureRun {
  return new FailureRun({ firstMs: leaseMs, maxMs: Math.max(leaseMs, START_RETRY_MAX_MS) }, now);
}
