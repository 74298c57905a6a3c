// How a consumer is paced and how it treats failures: batch size, how often its position is saved,
// the least time between its handler's calls, retries, and which errors are the surroundings'
// rather than the entries'. Checked once, when the consumer is made.

/** I/O trouble rather than a bad entry: system errors (a full disk) and SQLite's database-state codes. */
export function isIoError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (/^E[A-Z]+$/.test(code) || /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL)/.test(code))
  );
}

export interface PacingOptions {
  /** Most entries per handler call. Default 1000. */
  maxBatch?: number;
  /** Position saves are coalesced to at most one per interval (and one on stop). Default 1000. */
  commitIntervalMs?: number;
  /**
   * Handler calls start at least this far apart; entries that arrive meanwhile join the next
   * call. A quiet journal is not delayed; under load, fewer and larger batches. Default 0.
   */
  minCallIntervalMs?: number;
  /** Cap of the retry backoff, which starts at 100 ms and doubles. Default 5000. */
  maxBackoffMs?: number;
  /**
   * Errors that come from the consumer's surroundings rather than the entries (a store down, a full
   * disk): retried with backoff for as long as they last, never held against an entry. Any other
   * error is: an entry that fails `maxAttempts` times alone is set aside. Default: isIoError.
   */
  transient?: (err: unknown) => boolean;
  /** Failed attempts at a run of entries, and then at one entry alone, before it is set aside. Default 3. */
  maxAttempts?: number;
  /** Each failed attempt (handler error or read error), counting consecutive failures from 1. */
  onError?: (err: unknown, attempt: number) => void;
  /**
   * For a consumer that passes entries on rather than keeps them (a bridge, the cluster's
   * forwarder): the most entries it may be behind the journal's end. Past it, the oldest it has
   * not handled are passed over and told through onPassedOver, so a receiver gone for good cannot
   * hold the journal until the disk is full. Default: no bound (the store and the rules lose nothing).
   */
  keepsAtMost?: number;
  /** How many entries were just passed over for keepsAtMost. */
  onPassedOver?: (count: number) => void;
}

/** Pacing with every default filled in, checked. */
export type Pacing = Required<Omit<PacingOptions, 'onError' | 'onPassedOver'>> &
  Pick<PacingOptions, 'onError' | 'onPassedOver'>;

export function checkPacing(options: PacingOptions): Pacing {
  return {
    maxBatch: positiveInt('maxBatch', options.maxBatch ?? 1000),
    commitIntervalMs: nonNegative('commitIntervalMs', options.commitIntervalMs ?? 1000),
    minCallIntervalMs: nonNegative('minCallIntervalMs', options.minCallIntervalMs ?? 0),
    maxBackoffMs: nonNegative('maxBackoffMs', options.maxBackoffMs ?? 5000),
    transient: options.transient ?? isIoError,
    maxAttempts: positiveInt('maxAttempts', options.maxAttempts ?? 3),
    ...(options.onError && { onError: options.onError }),
    keepsAtMost:
      options.keepsAtMost === undefined ? Number.POSITIVE_INFINITY : positiveInt('keepsAtMost', options.keepsAtMost),
    ...(options.onPassedOver && { onPassedOver: options.onPassedOver }),
  };
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${value}`);
  return value;
}
