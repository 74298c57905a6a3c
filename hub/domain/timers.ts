// setTimeout and clearTimeout, injected so that tests run waits, retries and backoff on their own clock.

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The longest wait a Node timer holds (2^31 - 1 ms, about 24.8 days): one asked for longer fires
 * after 1 ms, and a caller that waits again at once spins. Past it a wait ends at 24.8 days
 * instead; every caller here looks at the time it waited for when woken, and waits again.
 */
const LONGEST_WAIT_MS = 2 ** 31 - 1;
const held = (ms: number) => Math.min(ms, LONGEST_WAIT_MS);

/** Timers that keep the process alive while they run: a wait whose end the hub must see. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, held(ms)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Timers that never keep the process alive on their own: retries, backoff and pacing. */
export const backgroundTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, held(ms)).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
