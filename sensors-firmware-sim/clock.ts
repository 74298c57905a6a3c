// Simulated time. Every timer in the simulator goes through a SimClock, so the same floor runs in
// real time for a demo, faster than real time at a speed factor, or stepped as fast as the broker
// acknowledges for tests and benchmarks.

export interface SimClock {
  /** Simulated time, ms since 1970. */
  now(): number;
  /** Calls fn once simulated time reaches `time` (at once if it has passed); returns a cancel function. */
  at(time: number, fn: () => void): () => void;
}

/** Time that runs with the wall clock, `speed` times as fast, from `start` (default: now). */
export function realTimeClock(options: { start?: number; speed?: number } = {}): SimClock {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new Error(`speed must be above 0, found ${speed}`);
  const origin = Date.now();
  const start = options.start ?? origin;
  const now = () => start + (Date.now() - origin) * speed;
  return {
    now,
    at(time, fn) {
      const timer = setTimeout(fn, Math.max(0, (time - now()) / speed));
      return () => clearTimeout(timer);
    },
  };
}

interface Timer {
  time: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Time that moves only when advanced. Each timer runs at its own simulated time, in order; before
 * each one the clock waits for `hold` (back-pressure: e.g. until the devices' unacknowledged
 * messages are below a window) and lets pending I/O run, so an hour of floor takes as long as the
 * broker needs to acknowledge it and no longer.
 */
export class SteppedClock implements SimClock {
  private current: number;
  private readonly timers: Timer[] = [];
  private order = 0;

  constructor(start: number) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  at(time: number, fn: () => void): () => void {
    const timer: Timer = { time: Math.max(time, this.current), order: this.order++, fn, cancelled: false };
    // Sorted by (time, order): binary search for the insertion point.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const t = this.timers[mid]!;
      if (t.time < timer.time || (t.time === timer.time && t.order < timer.order)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Runs every timer due up to `until`, then leaves the clock at `until`. */
  async advanceTo(until: number, hold?: () => Promise<void>): Promise<void> {
    for (;;) {
      const next = this.timers[0];
      if (next === undefined || next.time > until) break;
      this.timers.shift();
      if (next.cancelled) continue;
      if (hold) await hold();
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.current = next.time;
      next.fn();
    }
    this.current = Math.max(this.current, until);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  advanceBy(ms: number, hold?: () => Promise<void>): Promise<void> {
    return this.advanceTo(this.current + ms, hold);
  }
}
