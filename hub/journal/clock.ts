// The journal's time: when entries became durable, how long a handler has been at a batch, and the
// waits between a consumer's calls, retries and position saves. Injected, so tests run it on
// their own clock.
import { backgroundTimers, type Timers } from '../domain/timers.ts';

export interface Clock extends Timers {
  now(): number;
}

/** The wall clock; its timers never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  ...backgroundTimers,
};
