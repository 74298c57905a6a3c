// How long to wait before trying again: doubling from `firstMs` up to `maxMs`. With jitter, each
// wait is drawn from the upper part of its step, so many clients that failed together (a floor of
// devices, several gateways) do not all retry at the same moment.

export interface Backoff {
  firstMs: number;
  maxMs: number;
  /** The share of each step that is random: 0.5 waits 50-100 % of it. Default 0. */
  jitter?: number;
}

/** The wait before retry number `retry` (1 for the first retry). `random` returns [0, 1). */
export function backoffMs(retry: number, backoff: Backoff, random: () => number = Math.random): number {
  const step = Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.max(0, retry - 1));
  const jitter = backoff.jitter ?? 0;
  return jitter === 0 ? step : step * (1 - jitter * random());
}

/**
 * Failures in a row of one thing tried again (a load, a start): why the last one failed, and when
 * the next try is due by the backoff rule. A success starts the count over.
 */
export class FailureRun {
  private failures = 0;
  private lastProblem: string | undefined;
  private dueAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly backoff: Backoff,
    private readonly now: () => number,
  ) {}

  /** Why the last try failed, while none has succeeded since. */
  get problem(): string | undefined {
    return this.lastProblem;
  }

  /** A try failed: the wait before the next. */
  failed(problem: string): number {
    this.failures += 1;
    this.lastProblem = problem;
    const waitMs = backoffMs(this.failures, this.backoff);
    this.dueAt = this.now() + waitMs;
    return waitMs;
  }

  /** A try worked: true when the one before had failed (worth telling). */
  succeeded(): boolean {
    const was = this.lastProblem !== undefined;
    this.failures = 0;
    this.lastProblem = undefined;
    return was;
  }

  /** Whether the last try failed and the next is due. */
  due(): boolean {
    return this.lastProblem !== undefined && this.now() >= this.dueAt;
  }
}
