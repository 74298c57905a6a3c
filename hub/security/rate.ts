// Rate limits with an injected clock. MessageRate: one MQTT client's messages (a token bucket,
// and how long it has been over). RequestRate: API requests per key in one-minute windows.

export type RateVerdict = 'ok' | 'drop' | 'disconnect';

export class MessageRate {
  private tokens: number;
  private refilledAt: number;
  private overSince: number | undefined;
  private lastDropAt = 0;

  /** Drops further apart than this are separate bursts, not one sustained flood. */
  static readonly PAUSE_MS = 1000;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly graceMs: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  take(now: number): RateVerdict {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    if (this.overSince === undefined || now - this.lastDropAt > MessageRate.PAUSE_MS) this.overSince = now;
    this.lastDropAt = now;
    return now - this.overSince >= this.graceMs ? 'disconnect' : 'drop';
  }
}

/** Keys a RequestRate keeps a window for at most: past it, the oldest window is forgotten. */
export const REQUEST_RATE_KEYS = 10_000;

export class RequestRate {
  /** In the order their windows began: the first is the oldest. */
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number,
    /** Told when a window still open had to be forgotten to stay within REQUEST_RATE_KEYS. */
    private readonly onFull?: () => void,
  ) {}

  /** Seconds until the key may try again, or 0 when this request is within its limit. */
  take(key: string): number {
    const at = this.now();
    let window = this.windows.get(key);
    if (!window || at - window.start >= 60_000) {
      this.windows.delete(key);
      if (this.windows.size >= REQUEST_RATE_KEYS) this.forgetExpired(at);
      if (this.windows.size >= REQUEST_RATE_KEYS) {
        const oldest = this.windows.keys().next().value;
        if (oldest !== undefined) this.windows.delete(oldest);
        this.onFull?.();
      }
      window = { start: at, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    return window.count > this.perMinute ? Math.ceil((window.start + 60_000 - at) / 1000) : 0;
  }

  /** Keys with a window kept. */
  get size(): number {
    return this.windows.size;
  }

  private forgetExpired(at: number): void {
    // In the order the windows began: past the first still open, all are.
    for (const [key, w] of this.windows) {
      if (at - w.start < 60_000) return;
      this.windows.delete(key);
    }
  }
}
