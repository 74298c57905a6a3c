// The 1-minute aggregates both stores keep beside the raw readings, so two years of minutes
// outlive a month of raw readings on every backend. A store rolls a minute up by computing it
// again from its raw readings, late readings included (however long a store outage kept them in
// the journal), so a minute is never counted twice and a rewrite after a restart gives the same
// figures; pending-minutes.ts decides when. Ranges answered from minutes are in whole minutes. Pure.
import { METRICS, type Reading } from '../domain/reading.ts';
import type { Aggregate, MinuteQuery, ReadingQuery, SeriesPoint } from './store.ts';
import { checkAggregate, checkEvery, checkLimit } from './validate.ts';

export const MINUTE_MS = 60_000;

/** Metrics measured in decibels: their minutes keep the mean sound energy, for energy averages. */
export const DECIBEL_METRICS: ReadonlySet<string> = new Set(
  [...METRICS].filter(([, spec]) => spec.unit.startsWith('dB')).map(([m]) => m),
);

/** One device's metric over one minute. */
export interface MinuteAggregate {
  device: string;
  metric: string;
  zone: string;
  /** The minute's start, aligned to the epoch. */
  ts: number;
  mean: number;
  min: number;
  max: number;
  count: number;
  /** Decibel metrics: the mean of 10^(L/10), so a level over minutes is an energy average. */
  energy?: number;
}

export function minuteOf(ts: number): number {
  return ts - (((ts % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
}

/** What a write touched, per metric: its devices and its minutes, oldest first. */
export interface Touched {
  metric: string;
  devices: string[];
  minutes: number[];
  /** Each device's own minutes, for a store that rewrites one (device, metric, minute) at a time. */
  pairs: Array<[device: string, minute: number]>;
}

/** The minutes a batch of readings touched, per metric. */
export function touchedMinutes(readings: readonly Reading[]): Touched[] {
  return touchedOf(readings.map((r): [string, string, number] => [r.device, r.metric, minuteOf(r.ts)]));
}

/** (device, metric, minute)s, per metric. */
export function touchedOf(triples: Iterable<[device: string, metric: string, minute: number]>): Touched[] {
  const byMetric = new Map<
    string,
    { devices: Set<string>; minutes: Set<number>; pairs: Map<string, [string, number]> }
  >();
  for (const [device, metric, minute] of triples) {
    let t = byMetric.get(metric);
    if (!t) byMetric.set(metric, (t = { devices: new Set(), minutes: new Set(), pairs: new Map() }));
    t.devices.add(device);
    t.minutes.add(minute);
    t.pairs.set(`${device}\u0000${minute}`, [device, minute]);
  }
  return [...byMetric].map(([metric, t]) => ({
    metric,
    devices: [...t.devices].sort(),
    minutes: [...t.minutes].sort((a, b) => a - b),
    pairs: [...t.pairs.values()],
  }));
}

/** Runs of consecutive minutes as [from, to) spans: one query each. */
export function spans(minutes: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of minutes) {
    const last = out.at(-1);
    if (last && last[1] === m) last[1] = m + MINUTE_MS;
    else out.push([m, m + MINUTE_MS]);
  }
  return out;
}

/** What a window has gathered of its minutes; `last` keeps only the latest minute's. */
interface Gathered {
  count: number;
  sum: number;
  energy: number;
  min: number;
  max: number;
  latest: number;
  latestSum: number;
  latestCount: number;
}

/**
 * An aggregate over windows of `every` (aligned to the epoch; the whole range without it), folded
 * from minutes as they are read: means weighted by count, levels as energy averages, `last` the
 * mean of the last minute over every device that reported in it. Holds one tally per window.
 */
class MinuteWindows {
  private readonly windows = new Map<number, Gathered>();

  constructor(
    private readonly agg: Aggregate,
    private readonly from: number,
    private readonly every: number | undefined,
  ) {}

  add(minutes: readonly MinuteAggregate[]): void {
    const every = this.every;
    for (const m of minutes) {
      const start = every === undefined ? this.from : m.ts - (((m.ts % every) + every) % every);
      let w = this.windows.get(start);
      if (!w) {
        w = {
          count: 0,
          sum: 0,
          energy: 0,
          min: Infinity,
          max: -Infinity,
          latest: -Infinity,
          latestSum: 0,
          latestCount: 0,
        };
        this.windows.set(start, w);
      }
      w.count += m.count;
      w.sum += m.mean * m.count;
      w.energy += (m.energy ?? 10 ** (m.mean / 10)) * m.count;
      if (m.min < w.min) w.min = m.min;
      if (m.max > w.max) w.max = m.max;
      if (m.ts > w.latest) {
        w.latest = m.ts;
        w.latestSum = 0;
        w.latestCount = 0;
      }
      if (m.ts === w.latest) {
        w.latestSum += m.mean * m.count;
        w.latestCount += m.count;
      }
    }
  }

  points(): SeriesPoint[] {
    const points: SeriesPoint[] = [];
    for (const [ts, w] of [...this.windows].sort(([a], [b]) => a - b)) {
      const value =
        this.agg === 'min'
          ? w.min
          : this.agg === 'max'
            ? w.max
            : this.agg === 'laeq'
              ? 10 * Math.log10(w.energy / w.count)
              : this.agg === 'last'
                ? w.latestSum / w.latestCount
                : w.sum / w.count;
      if (Number.isFinite(value)) points.push({ ts, value });
    }
    return points;
  }
}

/** Minutes are read for an aggregate a day of the range at a time: a zone's two years never sit in memory at once. */
const READ_SPAN_MS = 86_400_000;

/**
 * A query over a range that starts before the raw retention (`cutoff`): aggregates over the whole
 * range from the minutes, so every window is judged alike; points as each minute's mean up to the
 * cutoff and the raw readings after it, the newest `limit` kept. Minutes are asked for only
 * between `oldest` (where the long-term retention begins) and `newest` (the latest time a reading
 * can hold): a range to the year 9999 is not read a day at a time through millennia holding none.
 */
export async function beyondRetention(
  q: ReadingQuery,
  { cutoff, oldest, newest }: { cutoff: number; oldest: number; newest: number },
  minutes: (q: MinuteQuery) => Promise<MinuteAggregate[]>,
  raw: (q: ReadingQuery) => Promise<SeriesPoint[]>,
): Promise<SeriesPoint[]> {
  if (q.limit !== undefined && checkLimit(q.limit) === 0) return [];
  // Whole minutes: the one holding `from` counts whole. A range reaching back decades is read
  // from where minutes are kept, not a day at a time through years that hold none.
  const from = minuteOf(Math.max(q.from, oldest));
  if (q.agg !== undefined) {
    const windows = new MinuteWindows(
      checkAggregate(q.agg),
      q.from,
      q.every === undefined ? undefined : checkEvery(q.every),
    );
    const to = Math.min(q.to, newest);
    const scope = { metric: q.metric, ...(q.device !== undefined ? { device: q.device } : { zone: q.zone }) };
    for (let start = from; start < to; start += READ_SPAN_MS)
      windows.add(await minutes({ ...scope, from: start, to: Math.min(to, start + READ_SPAN_MS) }));
    return windows.points();
  }
  // The minute the cutoff falls in from the minutes, raw readings from the next one on.
  const split = minuteOf(cutoff) + MINUTE_MS;
  const recent = q.to > split ? await raw({ ...q, from: split }) : [];
  const left = q.limit === undefined ? undefined : q.limit - recent.length;
  if (left !== undefined && left <= 0) return recent;
  // Only the newest `left` minutes are read: two years of a zone's minutes need not sit in memory for them.
  const older = (
    await minutes({ ...q, from, to: Math.min(q.to, split), ...(left !== undefined && { limit: left }) })
  ).map((m) => ({ ts: m.ts, value: m.mean, device: m.device }));
  return [...older, ...recent];
}
