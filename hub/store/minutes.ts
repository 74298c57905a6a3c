// The 1-minute aggregates both stores keep beside the raw readings, so two years of minutes
// outlive a month of raw readings on every backend. A store recomputes, from its raw readings, each
// minute a write touches (late readings included, within the lateness), so a minute is never
// counted twice and a rewrite after a restart gives the same figures. Pure.
import { METRICS, type Reading } from '../domain/reading.ts';
import type { Aggregate, MinuteQuery, ReadingQuery, SeriesPoint } from './store.ts';
import { checkAggregate, checkEvery, checkLimit } from './validate.ts';

export const MINUTE_MS = 60_000;
/** How late a reading may arrive and still rewrite its minute (storage.minute_lateness). */
export const DEFAULT_LATENESS_MS = 3_600_000;

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

/**
 * The minutes a batch of readings touched, per metric; a reading older than `lateness` before
 * `now` is stored raw but rewrites no minute (a device replaying weeks of buffer would otherwise
 * recompute weeks of minutes in one write). Returns how many readings were that late.
 */
export function touchedMinutes(
  readings: readonly Reading[],
  now: number,
  latenessMs: number,
): { touched: Touched[]; tooLate: number } {
  const byMetric = new Map<
    string,
    { devices: Set<string>; minutes: Set<number>; pairs: Map<string, [string, number]> }
  >();
  let tooLate = 0;
  for (const r of readings) {
    if (r.ts < now - latenessMs) {
      tooLate++;
      continue;
    }
    let t = byMetric.get(r.metric);
    if (!t) byMetric.set(r.metric, (t = { devices: new Set(), minutes: new Set(), pairs: new Map() }));
    const minute = minuteOf(r.ts);
    t.devices.add(r.device);
    t.minutes.add(minute);
    t.pairs.set(`${r.device}\u0000${minute}`, [r.device, minute]);
  }
  const touched = [...byMetric].map(([metric, t]) => ({
    metric,
    devices: [...t.devices].sort(),
    minutes: [...t.minutes].sort((a, b) => a - b),
    pairs: [...t.pairs.values()],
  }));
  return { touched, tooLate };
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

/**
 * An aggregate over windows of `every` (aligned to the epoch; the whole range without it), from
 * minutes: means weighted by count, levels as energy averages, `last` the mean of the last minute.
 */
export function fromMinutes(
  minutes: readonly MinuteAggregate[],
  agg: Aggregate,
  from: number,
  every: number | undefined,
): SeriesPoint[] {
  const windows = new Map<number, MinuteAggregate[]>();
  for (const m of minutes) {
    const start = every === undefined ? from : m.ts - (((m.ts % every) + every) % every);
    const list = windows.get(start);
    if (list) list.push(m);
    else windows.set(start, [m]);
  }
  const points: SeriesPoint[] = [];
  for (const [ts, list] of [...windows].sort(([a], [b]) => a - b)) {
    const count = list.reduce((n, m) => n + m.count, 0);
    const weighted = (f: (m: MinuteAggregate) => number) => list.reduce((s, m) => s + f(m) * m.count, 0) / count;
    let value: number;
    if (agg === 'min') value = Math.min(...list.map((m) => m.min));
    else if (agg === 'max') value = Math.max(...list.map((m) => m.max));
    else if (agg === 'last') value = list.reduce((a, b) => (b.ts > a.ts ? b : a)).mean;
    else if (agg === 'laeq') value = 10 * Math.log10(weighted((m) => m.energy ?? 10 ** (m.mean / 10)));
    else value = weighted((m) => m.mean);
    if (Number.isFinite(value)) points.push({ ts, value });
  }
  return points;
}

/**
 * A query over a range that starts before the raw retention (`cutoff`): aggregates over the whole
 * range from the minutes, so every window is judged alike; points as each minute's mean up to the
 * cutoff and the raw readings after it, the newest `limit` kept.
 */
export async function beyondRetention(
  q: ReadingQuery,
  cutoff: number,
  minutes: (q: MinuteQuery) => Promise<MinuteAggregate[]>,
  raw: (q: ReadingQuery) => Promise<SeriesPoint[]>,
): Promise<SeriesPoint[]> {
  if (q.limit !== undefined && checkLimit(q.limit) === 0) return [];
  if (q.agg !== undefined)
    return fromMinutes(
      await minutes(q),
      checkAggregate(q.agg),
      q.from,
      q.every === undefined ? undefined : checkEvery(q.every),
    );
  const recent = q.to > cutoff ? await raw({ ...q, from: cutoff }) : [];
  const left = q.limit === undefined ? undefined : q.limit - recent.length;
  if (left !== undefined && left <= 0) return recent;
  const older = (await minutes({ ...q, to: Math.min(q.to, cutoff) })).map((m) => ({
    ts: m.ts,
    value: m.mean,
    device: m.device,
  }));
  return [...(left === undefined ? older : older.slice(Math.max(0, older.length - left))), ...recent];
}
