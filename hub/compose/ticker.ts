// The hub's periodic work (the rules' clock, the minutes' roll-up) runs on a Ticker, so a test on
// simulated time can tick it on its own clock.

/** Starts calling `tick`, one call at a time; the function returned stops it and waits for the one running. */
export type Ticker = (tick: () => Promise<void>) => () => Promise<void>;

/** The tick every `everyMs` of real time. */
export function tickEvery(everyMs: number): Ticker {
  return (tick) => {
    let running: Promise<void> | undefined;
    const timer = setInterval(() => {
      running ??= tick().finally(() => (running = undefined));
    }, everyMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await running;
    };
  };
}
