// Waiting for work at most so long: a part stopping, a consumer finishing, a broker acknowledging.
// The work goes on after the wait ends; the caller only stops waiting for it.

import { systemTimers, type Timers } from './timers.ts';

/** True once the work settled within `ms`, false if it had not by then; a failure of the work is thrown. */
export async function within(work: Promise<unknown>, ms: number, timers: Timers = systemTimers): Promise<boolean> {
  let timer: unknown;
  const late = new Promise<false>((resolve) => {
    timer = timers.setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    timers.clearTimeout(timer);
  }
}
