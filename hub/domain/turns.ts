// Work that must not all run at once: at most `atOnce` pieces run at a time and `waiting` more
// wait their turn, in order; any further piece is told "busy" at once, so a burst of callers
// queues nothing without bound.
export class Turns {
  private running = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    private readonly atOnce: number,
    private readonly waiting: number,
  ) {}

  /** Runs `work` in its turn; when `waiting` pieces already wait, answers `busy()` instead, at once. */
  async run<T>(work: () => Promise<T>, busy: () => T): Promise<T> {
    if (this.running < this.atOnce) this.running++;
    else if (this.queue.length >= this.waiting) return busy();
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      return await work();
    } finally {
      // The turn passes straight to the next waiter, so no new piece can slip in between.
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}
