// Wrong passwords per source (security.login_failures), with an injected clock. After `max`
// failures within `withinMs` the source is locked out for `lockoutMs`: the broker refuses every
// password login from it before any password is checked, so a flood of guesses costs a map
// look-up each instead of an scrypt run. A success does not clear the count, so one valid
// credential cannot buy an attacker more guesses. At most `trackedSources` are remembered.

export interface LoginFailureSettings {
  max: number;
  withinMs: number;
  lockoutMs: number;
  trackedSources: number;
}

interface Tally {
  /** Times of the latest failures, oldest first; never more than `max`. */
  at: number[];
  lockedUntil: number;
}

export class LoginFailures {
  /** In order of last failure, so the first entry is the one quiet the longest. */
  private readonly bySource = new Map<string, Tally>();

  constructor(
    private readonly settings: LoginFailureSettings,
    private readonly now: () => number,
    /** Told when a source is forgotten to stay within trackedSources. */
    private readonly onFull: (tracked: number) => void,
  ) {}

  /** The time the source may log in again, or undefined when it may now. */
  lockedUntil(source: string): number | undefined {
    const tally = this.bySource.get(source);
    return tally && tally.lockedUntil > this.now() ? tally.lockedUntil : undefined;
  }

  /** Counts a wrong password from the source; returns the end of the lock-out this failure starts, if it starts one. */
  fail(source: string): number | undefined {
    const at = this.now();
    const { max, withinMs, lockoutMs, trackedSources } = this.settings;
    const tally = this.bySource.get(source) ?? { at: [], lockedUntil: 0 };
    this.bySource.delete(source);
    if (this.bySource.size >= trackedSources) {
      const quietest = this.bySource.keys().next().value;
      if (quietest !== undefined) this.bySource.delete(quietest);
      this.onFull(trackedSources);
    }
    this.bySource.set(source, tally);
    tally.at = tally.at.filter((t) => at - t < withinMs);
    tally.at.push(at);
    if (tally.at.length > max) tally.at.shift();
    if (tally.at.length < max || tally.lockedUntil > at) return undefined;
    tally.at = [];
    tally.lockedUntil = at + lockoutMs;
    return tally.lockedUntil;
  }
}
