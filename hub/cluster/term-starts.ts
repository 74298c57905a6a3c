// How this hub's rules terms have been starting. A term that cannot start (the rules' state cannot
// be read from Redis: a command timed out, a key damaged) gives the lease up; its hub waits longer
// after each failure in a row before it asks for the lease again, so another hub may lead
// meanwhile, and its health says why no hub leads.
import { backoffMs } from '../domain/backoff.ts';

/** Longest a hub waits to ask for the rules lease again after its terms failed to start, unless one lease is longer. */
export const START_RETRY_MAX_MS = 30_000;

export class TermStarts {
  private failures = 0;
  private lastProblem: string | undefined;

  constructor(private readonly leaseMs: number) {}

  /** A term started: the next failure waits one lease again. */
  started(): void {
    this.failures = 0;
    this.lastProblem = undefined;
  }

  /** A term could not start: how long to ask for no lease. */
  failed(problem: string): number {
    this.failures += 1;
    this.lastProblem = problem;
    return backoffMs(this.failures, { firstMs: this.leaseMs, maxMs: Math.max(this.leaseMs, START_RETRY_MAX_MS) });
  }

  /** Why the last term could not start, while none has since. */
  get problem(): string | undefined {
    return this.lastProblem;
  }
}
