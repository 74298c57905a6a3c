// The minutes written readings touched, waiting to be rolled up. A minute is rolled up (computed
// again from the raw readings, minutes.ts) once it has closed and a few seconds more have passed
// for readings on their way, or once it has waited that long itself (a device whose clock runs
// ahead): so each minute costs about one roll-up, not one per write. A reading that lands in a
// minute already rolled up, however late, makes it wait again. The journal keeps every entry whose
// minutes still wait (`held`), so after a crash the replay puts them back here.
import { MINUTE_MS, minuteOf, touchedOf, type Touched } from './minutes.ts';
import { StoreUnavailable } from './store.ts';

export interface PendingMinutesOptions {
  /** Rewrites the minutes from the raw readings (Store.rollUp). */
  rollUp: (touched: readonly Touched[]) => Promise<void>;
  now: () => number;
  /** Most (device, metric, minute)s waiting; beyond it everything waiting is rolled up at once. */
  max: number;
  /** Past a minute's end, how long readings on their way are waited for. Default 5 s. */
  settleMs?: number;
}

/** What a roll-up did. */
export interface RolledUp {
  /** (device, metric, minute)s rewritten. */
  rolled: number;
  /** Given up: the store refused them, or failed in a way no retry mends. The raw readings stay. */
  dropped: number;
  /** Why they were dropped. */
  reason?: string;
}

/** One minute's waiting (device, metric)s. */
interface Waiting {
  /** The journal LSN before the first entry that made it wait. */
  since: number;
  /** When it began to wait. */
  firstAt: number;
  byMetric: Map<string, Set<string>>;
  size: number;
}

/** (device, metric, minute)s per store call: a quarter of an hour of 500 devices' few metrics. */
const CHUNK = 50_000;

export class PendingMinutes {
  private readonly waiting = new Map<number, Waiting>();
  /** The `since` of minutes taken by the roll-up under way, which still hold the journal. */
  private readonly inFlight = new Map<number, number>();
  private waitingSize = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly settleMs: number;

  constructor(private readonly options: PendingMinutesOptions) {
    this.settleMs = options.settleMs ?? 5000;
  }

  /** (device, metric, minute)s waiting, the roll-up under way included. */
  get size(): number {
    return this.waitingSize;
  }

  /** At or beyond `max`: the writer rolls up before it takes more. */
  get full(): boolean {
    return this.waitingSize >= this.options.max;
  }

  /** Readings whose raw values are stored, from the journal entries after LSN `since`. */
  add(readings: Iterable<{ device: string; metric: string; ts: number }>, since: number): void {
    const at = this.options.now();
    for (const r of readings) {
      const minute = minuteOf(r.ts);
      let w = this.waiting.get(minute);
      if (!w) this.waiting.set(minute, (w = { since, firstAt: at, byMetric: new Map(), size: 0 }));
      let devices = w.byMetric.get(r.metric);
      if (!devices) w.byMetric.set(r.metric, (devices = new Set()));
      if (devices.has(r.device)) continue;
      devices.add(r.device);
      w.size += 1;
      this.waitingSize += 1;
    }
  }

  /** The last LSN whose minutes are all rolled up; undefined when none wait. */
  held(): number | undefined {
    let min = Infinity;
    for (const since of this.inFlight.keys()) if (since < min) min = since;
    for (const w of this.waiting.values()) if (w.since < min) min = w.since;
    return Number.isFinite(min) ? min : undefined;
  }

  /**
   * Rolls up the minutes that are due (`all`: every one waiting, when the hub stops or too many
   * wait). One at a time: a call made while one runs follows it. Rejects with StoreUnavailable,
   * leaving the minutes waiting, when the store cannot take them now.
   */
  rollUp(all = false): Promise<RolledUp> {
    const run = this.chain.then(() => this.rollUpNow(all));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async rollUpNow(all: boolean): Promise<RolledUp> {
    const now = this.options.now();
    const due = [...this.waiting]
      .filter(([minute, w]) => all || Math.min(minute, w.firstAt) + MINUTE_MS + this.settleMs <= now)
      .sort(([a], [b]) => a - b);
    const done: RolledUp = { rolled: 0, dropped: 0 };
    // Taken out first: a reading that lands in one of them meanwhile makes it wait again.
    for (const [minute, w] of due) {
      this.waiting.delete(minute);
      this.waitingSize -= w.size;
      this.inFlight.set(w.since, (this.inFlight.get(w.since) ?? 0) + 1);
    }
    let next = 0;
    try {
      while (next < due.length) {
        const chunk: Array<[number, Waiting]> = [];
        let size = 0;
        while (next < due.length && (size === 0 || size + due[next]![1].size <= CHUNK)) {
          chunk.push(due[next]!);
          size += due[next]![1].size;
          next += 1;
        }
        try {
          await this.options.rollUp(touchedOf(triples(chunk)));
          done.rolled += size;
        } catch (err) {
          if (err instanceof StoreUnavailable) {
            next -= chunk.length;
            throw err;
          }
          done.dropped += size;
          done.reason = err instanceof Error ? err.message : String(err);
        }
        for (const [, w] of chunk) this.landed(w.since);
      }
    } finally {
      for (const [minute, w] of due.slice(next)) {
        this.landed(w.since);
        this.putBack(minute, w);
      }
    }
    return done;
  }

  private landed(since: number): void {
    const left = (this.inFlight.get(since) ?? 1) - 1;
    if (left > 0) this.inFlight.set(since, left);
    else this.inFlight.delete(since);
  }

  /** A minute whose roll-up failed waits again, with whatever came for it meanwhile. */
  private putBack(minute: number, w: Waiting): void {
    const now = this.waiting.get(minute);
    this.waiting.set(minute, w);
    this.waitingSize += w.size;
    if (!now) return;
    this.waitingSize -= now.size;
    w.since = Math.min(w.since, now.since);
    w.firstAt = Math.min(w.firstAt, now.firstAt);
    for (const [metric, devices] of now.byMetric) {
      const mine = w.byMetric.get(metric);
      if (!mine) {
        w.byMetric.set(metric, devices);
        w.size += devices.size;
        this.waitingSize += devices.size;
        continue;
      }
      for (const d of devices) {
        if (mine.has(d)) continue;
        mine.add(d);
        w.size += 1;
        this.waitingSize += 1;
      }
    }
  }
}

function* triples(minutes: Iterable<[number, Waiting]>): Generator<[string, string, number]> {
  for (const [minute, w] of minutes)
    for (const [metric, devices] of w.byMetric) for (const device of devices) yield [device, metric, minute];
}
