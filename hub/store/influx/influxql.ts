// InfluxQL: the statements the store sends, and the answers it reads back. Pure: no I/O.
//
// Everything a caller supplies reaches InfluxQL as a bound parameter ($device, $zone, $from, $to,
// $limit). Names cannot be bound (database, policy, measurement): they are quoted here, and the
// store admits only names of a strict grammar in the first place.
//
// An answer that is not what InfluxDB's query API returns (a proxy's page, a cut-off body, another
// service on the port) means InfluxDB is not what answered: StoreUnavailable, so the writer waits
// for it and the API answers 503, rather than readings being set aside.
import { StoreUnavailable, type Aggregate, type AlertRecord, type SeriesPoint } from '../store.ts';
import { MAX_TIME_MS, MIN_TIME_MS } from './line-protocol.ts';

export type Params = Record<string, string | number>;

export interface Statement {
  q: string;
  params: Params;
}

/** Time and device/zone conditions, with the values they bind. */
export interface Where {
  where: string;
  params: Params;
}

export interface InfluxSeries {
  name?: string;
  /** With GROUP BY tags: this series' tag values. */
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface InfluxResult {
  series: InfluxSeries[];
}

/** A parsed answer: the results, or the error InfluxDB itself reported, in its own words. */
export type Answer = { ok: true; results: InfluxResult[] } | { ok: false; error: string };

const TIME_RANGE = 'time >= $from AND time < $to';

/** A name in double quotes, `\` and `"` escaped as InfluxQL reads them; a line break cannot be quoted. */
export function quoteIdentifier(name: string): string {
  if (typeof name !== 'string' || name === '') throw new Error('an InfluxQL name cannot be empty');
  if (/[\r\n]/.test(name)) throw new Error(`InfluxQL name ${JSON.stringify(name)} holds a line break`);
  return `"${name.replace(/[\\"]/g, '\\$&')}"`;
}

/** "database"."policy"."measurement" */
export function measurementIn(database: string, policy: string, measurement: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(policy)}.${quoteIdentifier(measurement)}`;
}

/** Every measurement of a policy: "database"."policy"./.*\/ */
export function everyMeasurementIn(database: string, policy: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(policy)}./.*/`;
}

function clampTime(ms: number): number {
  if (Number.isNaN(ms)) throw new Error('time bound is NaN');
  return Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, Math.trunc(ms)));
}

/**
 * The time range, clamped to what InfluxDB can hold, and the device or zone, all bound; undefined
 * when the range is empty.
 */
export function whereScope(q: { device?: string; zone?: string; from: number; to: number }): Where | undefined {
  const from = clampTime(q.from);
  const to = clampTime(q.to);
  if (!(from < to)) return undefined;
  const params: Params = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  let where = TIME_RANGE;
  if (q.device !== undefined) {
    params['device'] = q.device;
    where += ' AND "device" = $device';
  }
  if (q.zone !== undefined) {
    params['zone'] = q.zone;
    where += ' AND "zone" = $zone';
  }
  return { where, params };
}

/** Raw values with their device (and the value as reported, when calibrated); with a limit, the newest `limit` (a positive number: LIMIT 0 is no limit to InfluxDB). */
export function rawQuery(from: string, scope: Where, limit?: number): Statement {
  const q = `SELECT "value", "device", "uncalibrated" FROM ${from} WHERE ${scope.where}`;
  if (limit === undefined) return { q, params: scope.params };
  return { q: `${q} ORDER BY time DESC LIMIT $limit`, params: { ...scope.params, limit } };
}

/** One aggregate over the range, or one per window of `every` ms aligned to the epoch, empty windows left out. */
export function aggregateQuery(agg: Aggregate, from: string, scope: Where, every?: number): Statement {
  const groupBy = every === undefined ? '' : ` GROUP BY time(${every}ms) fill(none)`;
  return { q: aggregateSelect(agg, from, scope.where) + groupBy, params: scope.params };
}

function aggregateSelect(agg: Aggregate, from: string, where: string): string {
  switch (agg) {
    case 'mean':
    case 'min':
    case 'max':
    case 'last':
      return `SELECT ${agg}("value") FROM ${from} WHERE ${where}`;
    case 'laeq':
      // InfluxQL cannot aggregate an expression, so the energy goes through a subquery. The 10.0
      // matters: 1.6 types pow(10, x) in a subquery as an integer and truncates the energy. The
      // outer query filters on time only: the subquery's rows no longer carry the device/zone tags,
      // so a tag condition there would match nothing.
      return (
        `SELECT 10 * log10(mean("energy")) FROM (SELECT pow(10.0, "value" / 10.0) AS "energy" ` +
        `FROM ${from} WHERE ${where}) WHERE ${TIME_RANGE}`
      );
    default: {
      const never: never = agg;
      throw new Error(`unknown aggregate ${String(never)}`);
    }
  }
}

export function countQuery(from: string, scope: Where): Statement {
  return { q: `SELECT count("value") FROM ${from} WHERE ${scope.where}`, params: scope.params };
}

/** Alert history, newest `limit` records. */
export function alertsQuery(from: string, scope: Where, limit: number): Statement {
  return {
    q: `SELECT * FROM ${from} WHERE ${scope.where} ORDER BY time DESC LIMIT $limit`,
    params: { ...scope.params, limit },
  };
}

function malformed(what: string): StoreUnavailable {
  return new StoreUnavailable(`InfluxDB's answer is not what its query API returns: ${what}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function seriesOf(raw: unknown, at: string): InfluxSeries {
  if (!isObject(raw)) throw malformed(`${at} is not an object`);
  const { name, tags, columns, values } = raw;
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string'))
    throw malformed(`${at}.columns is not a list of names`);
  if (values !== undefined && (!Array.isArray(values) || !values.every(Array.isArray)))
    throw malformed(`${at}.values is not a list of rows`);
  const series: InfluxSeries = { columns, values: (values ?? []) as unknown[][] };
  if (typeof name === 'string') series.name = name;
  if (isObject(tags))
    series.tags = Object.fromEntries(Object.entries(tags).filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
  return series;
}

/** The body of a /query answer, its shape checked, so nothing after this trusts it blindly. */
export function parseAnswer(body: string): Answer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformed(`not JSON: ${JSON.stringify(body.trim().slice(0, 200))}`);
  }
  if (!isObject(parsed)) throw malformed('not a JSON object');
  if (typeof parsed['error'] === 'string') return { ok: false, error: parsed['error'] };
  const raw = parsed['results'] ?? [];
  if (!Array.isArray(raw)) throw malformed('results is not a list');
  const results: InfluxResult[] = [];
  for (const [i, result] of raw.entries()) {
    if (!isObject(result)) throw malformed(`results[${i}] is not an object`);
    if (typeof result['error'] === 'string') return { ok: false, error: result['error'] };
    const series = result['series'] ?? [];
    if (!Array.isArray(series)) throw malformed(`results[${i}].series is not a list`);
    results.push({ series: series.map((s, j) => seriesOf(s, `results[${i}].series[${j}]`)) });
  }
  return { ok: true, results };
}

/** A row's cell by column name (undefined when the answer has no such column). */
export function cell(series: InfluxSeries, row: readonly unknown[], column: string): unknown {
  const i = series.columns.indexOf(column);
  return i < 0 ? undefined : row[i];
}

/** Time as InfluxDB reports it with epoch=ms: always a number, or the answer is not InfluxDB's. */
export function timeOf(row: readonly unknown[], at: string): number {
  const t = row[0];
  if (typeof t !== 'number' || !Number.isFinite(t))
    throw malformed(`${at} has time ${JSON.stringify(t)}, not ms since 1970`);
  return t;
}

/** The first statement's first series: what a query of one measurement returns. */
export function firstSeries(results: readonly InfluxResult[]): InfluxSeries | undefined {
  return results[0]?.series[0];
}

/**
 * Raw points in time order, then device. A row without a numeric value is not a reading (a point
 * another writer left in the measurement without one): it is left out, never read as 0.
 */
export function rawPoints(results: readonly InfluxResult[]): SeriesPoint[] {
  const series = firstSeries(results);
  const points: SeriesPoint[] = [];
  for (const row of series?.values ?? []) {
    const value = row[1];
    if (typeof value !== 'number') continue;
    const point: SeriesPoint = { ts: timeOf(row, 'a raw row'), value, device: String(row[2]) };
    if (typeof row[3] === 'number') point.uncalibrated = row[3];
    points.push(point);
  }
  return points.sort((a, b) => a.ts - b.ts || (a.device! < b.device! ? -1 : a.device! > b.device! ? 1 : 0));
}

/**
 * Aggregated points, windows without a value left out. `wholeRangeFrom`: one point over the whole
 * range, reported at its start (InfluxDB reports a selector's own time there, or 0 from a subquery).
 */
export function aggregatePoints(results: readonly InfluxResult[], wholeRangeFrom?: number): SeriesPoint[] {
  const points: SeriesPoint[] = [];
  for (const row of firstSeries(results)?.values ?? []) {
    const value = row[1];
    if (typeof value !== 'number') continue;
    points.push({ ts: wholeRangeFrom ?? timeOf(row, 'an aggregate row'), value });
  }
  return points;
}

/** The sum of the counts of every series (one per measurement when counting across metrics). */
export function countTotal(results: readonly InfluxResult[]): number {
  let total = 0;
  for (const series of results[0]?.series ?? []) {
    for (const row of series.values) {
      const n = row[1] ?? 0;
      if (typeof n !== 'number') throw malformed(`a count of ${JSON.stringify(n)}`);
      total += n;
    }
  }
  return total;
}

/** Alert records in time order; a row without a numeric alert_id is not one of the hub's. */
export function alertRecords(results: readonly InfluxResult[]): AlertRecord[] {
  const series = firstSeries(results);
  if (series === undefined) return [];
  const records: AlertRecord[] = [];
  for (const row of series.values) {
    const alertId = cell(series, row, 'alert_id');
    if (typeof alertId !== 'number') continue;
    const text = (column: string): string => String(cell(series, row, column));
    const record: AlertRecord = {
      alertId,
      key: text('key'),
      rule: text('rule'),
      subject: text('subject'),
      zone: text('zone'),
      event: text('event'),
      severity: cell(series, row, 'severity') === 'critical' ? 'critical' : 'warning',
      at: timeOf(row, 'an alert row'),
      summary: text('summary'),
    };
    const value = cell(series, row, 'value');
    const code = cell(series, row, 'code');
    records.push({
      ...record,
      ...(typeof value === 'number' && { value }),
      ...(typeof code === 'string' && { code }),
    });
  }
  return records.sort((a, b) => a.at - b.at || a.alertId - b.alertId);
}
