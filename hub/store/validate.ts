// What every store checks before it writes or answers, in one place, so InfluxDB and SQLite
// refuse the same things with the same words. Pure: no I/O.
import { METRIC_PATTERN, readingProblem, type Reading } from '../domain/reading.ts';
import { AGGREGATES, StoreRefusal, type Aggregate } from './store.ts';

/** Most alert records a history query returns when it names no limit. */
export const ALERT_QUERY_LIMIT = 10_000;

/**
 * The metric, when it is a valid metric name. InfluxDB cannot bind a measurement name as a
 * parameter, so both stores refuse anything outside the grammar rather than escape it.
 */
export function checkMetric(metric: string): string {
  if (typeof metric !== 'string' || !METRIC_PATTERN.test(metric)) {
    throw new Error(`metric ${JSON.stringify(metric)} is not a valid metric name`);
  }
  return metric;
}

/** A reading query speaks of one device or one zone, never both or neither. */
export function checkScope(q: { device?: string; zone?: string }): void {
  if ((q.device === undefined) === (q.zone === undefined)) throw new Error('query needs exactly one of device or zone');
}

/** No reading lies in [from, to): the answer is empty whatever is stored (NaN bounds too). */
export function isEmptyRange(from: number, to: number): boolean {
  return !(from < to);
}

/** The most raw points to return; 0 means none (InfluxDB would read LIMIT 0 as no limit at all). */
export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new Error(`limit ${limit} is not a non-negative integer`);
  return limit;
}

/** One of the aggregates every store computes; a name from outside never reaches a lookup table unchecked. */
export function checkAggregate(agg: Aggregate): Aggregate {
  if (!AGGREGATES.includes(agg))
    throw new Error(`unknown aggregate ${JSON.stringify(agg)} (one of ${AGGREGATES.join(', ')})`);
  return agg;
}

/** A window length for aggregates, in whole ms. */
export function checkEvery(every: number): number {
  if (!Number.isSafeInteger(every) || every <= 0) throw new Error(`every ${every} is not a positive integer of ms`);
  return every;
}

/**
 * Refuses the whole batch, before anything is written, when one of its readings is not a plain
 * reading (the domain's check: ids, metric, a finite value, a whole-ms time): half a batch never
 * reaches the database, and the writer pins the refusal down to the reading.
 */
export function refuseUnwritable(readings: readonly Reading[]): void {
  for (const r of readings) {
    const problem = readingProblem(r);
    if (problem !== undefined) throw new StoreRefusal(`refusing reading: ${problem}`);
  }
}
