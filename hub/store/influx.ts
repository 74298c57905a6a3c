// InfluxDB store over the 1.x HTTP API (/write, /query, /ping), which InfluxDB 1.8, 2.x (v1
// compatibility) and 3.x Core also serve.
//
// Schema, chosen so a Grafana panel is a plain `SELECT ... FROM "noise" WHERE "zone" = ...`:
//   database     the last path segment of the store URL
//   retention    "raw" (DEFAULT, rawRetention, 30d unless set) holds every reading;
//                "long_term" (longTermRetention, 104w unless set) holds 1-minute means that the
//                continuous query cq_1m writes from raw, same measurements and tags, fields
//                `mean_value` and, for decibel metrics, `mean_energy`; cq_1m_peak adds
//                `max_value` to noise_peak, the loudest peak of each minute;
//                "alert_history" (alertHistoryRetention, as long as long_term unless set) holds
//                the measurement `alerts`, so alert history outlives the raw readings.
//   measurement  the metric name (noise, co2, ...): one per metric, so the continuous query can
//                downsample every metric with :MEASUREMENT and a query reads one metric only.
//   tags         device; zone (left out when the reading has none: InfluxDB cannot store an empty
//                tag value, and `"zone" = ''` matches such series); unknown=true for metrics
//                outside the canonical list, so dashboards can filter them out.
//   fields       value (float); energy = 10^(value/10) for decibel metrics (noise, noise_peak), so
//                the continuous query's mean is an energy average: a level in dB is
//                10·log10(mean_energy), while mean_value would be the arithmetic mean of decibels.
//   time         ms precision
// A point is identified by measurement + tag set + time, so the same device, metric and ts written
// twice overwrites one point, the later value winning. Zone and unknown are tags, hence part of
// the series: a device that moves zone starts a new series, and a reading re-sent at an old
// timestamp with a different zone would be stored twice (SQLite keeps one row per device, metric
// and ts). Readings carry the zone they were taken in, so that takes a rewritten resend.
//
// Everything a caller supplies reaches InfluxQL as a bound parameter ($device, $zone, $from, $to,
// $limit). What cannot be bound (database, measurement, durations, GROUP BY interval) is checked
// against a strict grammar and quoted; anything else is refused.
import { METRIC_PATTERN, METRICS, readingProblem as domainProblem, type Reading } from '../domain/reading.ts';
import { HttpClient, type HttpAnswer } from './http.ts';
import { StoreRefusal, StoreUnavailable, type Aggregate, type AlertQuery, type AlertRecord, type ReadingQuery, type SeriesPoint, type Store, type StoreHealth } from './store.ts';

export interface InfluxStoreOptions {
  /** http(s)://[user:pass@]host:port[/prefix]/database */
  url: string;
  /** Duration of the default "raw" retention policy, InfluxQL syntax (default '30d'). */
  rawRetention?: string;
  /** Duration of the "long_term" retention policy for 1-minute means (default '104w'). */
  longTermRetention?: string;
  /** Duration of the "alert_history" retention policy (default: the long-term retention). */
  alertHistoryRetention?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

const DATABASE_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
const DURATION_PATTERN = /^(?:\d+(?:ns|u|µ|ms|s|m|h|d|w))+$/;
const DURATION_PART = /(\d+)(ns|u|µ|ms|s|m|h|d|w)/g;
const WRITE_CHUNK = 5000;
const HEALTH_TIMEOUT_MS = 2000;
/** InfluxDB's time range is int64 ns, roughly 1677..2262. */
const MIN_TIME_MS = -9_223_372_036_854;
const MAX_TIME_MS = 9_223_372_036_854;
const TIME_RANGE = 'time >= $from AND time < $to';
/** InfluxDB's count of the points of a partial write it dropped. */
const DROPPED = /\bdropped=(\d+)\s*$/;
/** The retention policy holding the `alerts` measurement. */
export const ALERT_HISTORY_POLICY = 'alert_history';
/** Metrics measured in decibels: written with their sound energy too, for energy averages. */
const DECIBEL_METRICS = new Set([...METRICS].filter(([, spec]) => spec.unit.startsWith('dB')).map(([m]) => m));
/** A peak level: its 1-minute maximum is what long-term reports of peaks look at. */
const PEAK_METRIC = 'noise_peak';

const MS_PER_UNIT: Record<string, number> = {
  ns: 1e-6,
  u: 1e-3,
  µ: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** ms in an InfluxQL duration ('30d', '1h30m') or as SHOW RETENTION POLICIES prints it ('720h0m0s'); 0 = INF. */
export function durationMs(d: string): number {
  if (d === 'INF' || d === 'inf' || d === '0s') return 0;
  let total = 0;
  for (const m of d.matchAll(DURATION_PART)) total += Number(m[1]) * (MS_PER_UNIT[m[2]!] ?? NaN);
  return total;
}

/** The shard group duration InfluxDB picks for a new policy, so ALTER keeps shards smaller than the policy. */
function shardDuration(retentionMs: number): string {
  if (retentionMs === 0 || retentionMs > 180 * 86_400_000) return '7d';
  if (retentionMs >= 2 * 86_400_000) return '1d';
  return '1h';
}

function checkDuration(what: string, d: string): string {
  if (d !== 'INF' && !DURATION_PATTERN.test(d)) {
    throw new Error(`${what} ${JSON.stringify(d)} is not an InfluxQL duration (e.g. '30d', '104w', 'INF')`);
  }
  return d;
}

export class InfluxError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'InfluxError';
  }
}

interface InfluxSeries {
  name?: string;
  columns: string[];
  values?: unknown[][];
}

interface InfluxResult {
  statement_id?: number;
  series?: InfluxSeries[];
  error?: string;
}

type Params = Record<string, string | number>;

/** Why a reading cannot be written, or undefined: the domain's check, and InfluxDB's time range. */
function readingProblem(r: Reading): string | undefined {
  const problem = domainProblem(r);
  if (problem !== undefined) return problem;
  if (r.ts < MIN_TIME_MS || r.ts > MAX_TIME_MS) return `time ${r.ts} is outside what InfluxDB can store (1677 to 2262)`;
  return undefined;
}

function checkMetric(metric: string): string {
  if (typeof metric !== 'string' || !METRIC_PATTERN.test(metric)) {
    throw new Error(`metric ${JSON.stringify(metric)} is not a valid metric name`);
  }
  return metric;
}

function clampTime(ms: number): number {
  if (Number.isNaN(ms)) throw new Error('time bound is NaN');
  return Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, Math.trunc(ms)));
}

export class InfluxStore implements Store {
  readonly name = 'influxdb';
  readonly database: string;
    private readonly base: string;
  private readonly auth: string | undefined;
  private readonly rawRetention: string;
  private readonly longTermRetention: string;
  private readonly alertHistoryRetention: string;
  private readonly timeoutMs: number;
  private readonly http: HttpClient;
  /** init() has succeeded since the database was last found missing. */
  private ready = false;

  constructor(opts: InfluxStoreOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new Error('InfluxDB url is not a URL (expected http://host:port/database)');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new Error(`InfluxDB url must be http or https, not ${u.protocol}`);
    }
    const segments = u.pathname.split('/').filter((s) => s !== '');
    const db = decodeURIComponent(segments.pop() ?? '');
    if (!DATABASE_PATTERN.test(db)) {
      throw new Error(
        `InfluxDB database name ${JSON.stringify(db)} is not allowed: use 1-64 letters, digits or '_' ` +
          `(it is the last path segment of the url, e.g. http://host:8086/floorwatch)`,
      );
    }
    this.database = db;
    this.base = `${u.protocol}//${u.host}${segments.length > 0 ? `/${segments.join('/')}` : ''}`;
    this.auth =
      u.username !== ''
        ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
        : undefined;
    this.rawRetention = checkDuration('rawRetention', opts.rawRetention ?? '30d');
    this.longTermRetention = checkDuration('longTermRetention', opts.longTermRetention ?? '104w');
    this.alertHistoryRetention = checkDuration('alertHistoryRetention', opts.alertHistoryRetention ?? this.longTermRetention);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.http = new HttpClient(this.base);
  }

  async init(): Promise<void> {
    const db = `"${this.database}"`;
    await this.influxql(`CREATE DATABASE ${db}`);
    const [rps] = await this.influxql(`SHOW RETENTION POLICIES ON ${db}`);
    const existing = new Map<string, { duration: number; isDefault: boolean }>();
    for (const s of rps?.series ?? []) {
      const col = (n: string): number => s.columns.indexOf(n);
      for (const row of s.values ?? []) {
        existing.set(String(row[col('name')]), {
          duration: durationMs(String(row[col('duration')])),
          isDefault: row[col('default')] === true,
        });
      }
    }
    await this.ensurePolicy('raw', this.rawRetention, true, existing.get('raw'));
    await this.ensurePolicy('long_term', this.longTermRetention, false, existing.get('long_term'));
    await this.ensurePolicy(ALERT_HISTORY_POLICY, this.alertHistoryRetention, false, existing.get(ALERT_HISTORY_POLICY));

    await this.ensureContinuousQuery('cq_1m', `SELECT mean(*) INTO ${db}."long_term".:MEASUREMENT FROM ${db}."raw"./.*/ GROUP BY time(1m), *`);
    await this.ensureContinuousQuery(
      'cq_1m_peak',
      `SELECT max("value") AS "max_value" INTO ${db}."long_term"."${PEAK_METRIC}" FROM ${db}."raw"."${PEAK_METRIC}" GROUP BY time(1m), *`,
    );
    // Older releases wrote alert history into raw, where it expires with the readings: copy what
    // is left of it, once, while the new policy is still empty (not at every start: the copy is
    // of up to a month of alerts).
    const kept = await this.influxql(`SELECT count("alert_id") FROM ${db}."${ALERT_HISTORY_POLICY}"."alerts"`);
    if (firstSeries(kept).length === 0) {
      await this.influxql(`SELECT * INTO ${db}."${ALERT_HISTORY_POLICY}"."alerts" FROM ${db}."raw"."alerts" GROUP BY *`);
    }
    this.ready = true;
  }

  private async ensureContinuousQuery(name: string, select: string): Promise<void> {
    const db = `"${this.database}"`;
    const cq = `CREATE CONTINUOUS QUERY "${name}" ON ${db} BEGIN ${select} END`;
    try {
      await this.influxql(cq);
    } catch (err) {
      // Same name, different definition (an older release's): replace it.
      if (!(err instanceof InfluxError) || !/already exists/.test(err.message)) throw err;
      await this.influxql(`DROP CONTINUOUS QUERY "${name}" ON ${db}`);
      await this.influxql(cq);
    }
  }

  private async ensurePolicy(
    name: string,
    duration: string,
    isDefault: boolean,
    current: { duration: number; isDefault: boolean } | undefined,
  ): Promise<void> {
    const db = `"${this.database}"`;
    const def = isDefault ? ' DEFAULT' : '';
    if (current === undefined) {
      await this.influxql(`CREATE RETENTION POLICY "${name}" ON ${db} DURATION ${duration} REPLICATION 1${def}`);
      return;
    }
    const wanted = durationMs(duration);
    if (current.duration === wanted && (!isDefault || current.isDefault)) return;
    await this.influxql(
      `ALTER RETENTION POLICY "${name}" ON ${db} DURATION ${duration} SHARD DURATION ${shardDuration(wanted)}${def}`,
    );
  }

  async write(readings: readonly Reading[]): Promise<void> {
    if (readings.length === 0) return;
    // Every line is checked before the first is sent, so a bad reading never leaves half a batch.
    const lines = readings.map((r) => {
      const problem = readingProblem(r);
      if (problem !== undefined) throw new StoreRefusal(`refusing reading: ${problem}`);
      // Tags in key order, as InfluxDB stores them.
      let line = `${r.metric},device=${r.device}`;
      if (r.unknownMetric === true) line += ',unknown=true';
      if (r.zone !== '') line += `,zone=${r.zone}`;
      line += ` value=${String(r.value)}`;
      if (DECIBEL_METRICS.has(r.metric)) {
        // Finite for any level a sensor can report; beyond ~3000 dB it would not be a number to InfluxDB.
        const energy = 10 ** (r.value / 10);
        if (Number.isFinite(energy)) line += `,energy=${String(energy)}`;
      }
      return `${line} ${r.ts}`;
    });
    await this.writeLines(lines, 'raw');
  }

  private async writeLines(lines: readonly string[], policy: string): Promise<void> {
    // A database that was missing when the hub started, or dropped since, is created (again).
    if (!this.ready) await this.init();
    const path = `/write?db=${this.database}&rp=${policy}&precision=ms`;
    for (let i = 0; i < lines.length; i += WRITE_CHUNK) {
      const body = lines.slice(i, i + WRITE_CHUNK).join('\n');
      const res = await this.request('POST', path, body, 'text/plain; charset=utf-8');
      if (ok(res)) continue;
      throw this.writeFailure(res);
    }
  }

  /**
   * What a refused write means, as InfluxDB's own status and message say, in the way Telegraf's
   * InfluxDB output reads them: a 400 (a field type conflict, a series limit, points beyond the
   * retention policy, a line it cannot parse) and other 4xx refuse those points for good; a 5xx,
   * a timeout, refused credentials or a missing database are the server's state, worth a retry.
   */
  private writeFailure(res: HttpAnswer): StoreRefusal | StoreUnavailable {
    const message = errorMessage(res);
    const text = `InfluxDB write failed (${res.status}): ${message}`;
    if (res.status === 404 && /database not found/.test(message)) {
      this.ready = false;
      return new StoreUnavailable(text);
    }
    if (res.status === 401 || res.status === 403) return new StoreUnavailable(`${text}: InfluxDB refuses the hub's credentials (check the user and password in the InfluxDB url)`);
    if (res.status >= 500 || res.status === 408 || res.status === 429) return new StoreUnavailable(text);
    const dropped = DROPPED.exec(message);
    return new StoreRefusal(text, dropped ? Number(dropped[1]) : undefined);
  }

  async query(q: ReadingQuery): Promise<SeriesPoint[]> {
    if ((q.device === undefined) === (q.zone === undefined)) throw new Error('query needs exactly one of device or zone');
    const from = `"${this.database}"."raw"."${checkMetric(q.metric)}"`;
    const params: Params = {};
    const where = this.where(q, params);
    if (where === undefined) return [];

    if (q.agg === undefined) {
      let sql = `SELECT "value", "device" FROM ${from} WHERE ${where}`;
      if (q.limit !== undefined) {
        if (!Number.isSafeInteger(q.limit) || q.limit < 0) throw new Error(`limit ${q.limit} is not a non-negative integer`);
        // LIMIT 0 means "no limit" to InfluxDB.
        if (q.limit === 0) return [];
        params['limit'] = q.limit;
        sql += ' ORDER BY time DESC LIMIT $limit';
      }
      const rows = firstSeries(await this.influxql(sql, params));
      const points = rows.map((row) => ({ ts: Number(row[0]), value: Number(row[1]), device: String(row[2]) }));
      return points.sort((a, b) => a.ts - b.ts || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    }

    let groupBy = '';
    if (q.every !== undefined) {
      if (!Number.isSafeInteger(q.every) || q.every <= 0) throw new Error(`every ${q.every} is not a positive integer of ms`);
      groupBy = ` GROUP BY time(${q.every}ms) fill(none)`;
    }
    const sql = aggregateSql(q.agg, from, where) + groupBy;
    const rows = firstSeries(await this.influxql(sql, params));
    const points: SeriesPoint[] = [];
    for (const row of rows) {
      if (row[1] === null || row[1] === undefined) continue;
      // Over the whole range InfluxDB reports a selector's own time (or 0 from a subquery).
      points.push({ ts: q.every === undefined ? q.from : Number(row[0]), value: Number(row[1]) });
    }
    return points;
  }

  async count(q: { device?: string; zone?: string; metric?: string; from: number; to: number }): Promise<number> {
    const from =
      q.metric === undefined ? `"${this.database}"."raw"./.*/` : `"${this.database}"."raw"."${checkMetric(q.metric)}"`;
    const params: Params = {};
    const where = this.where(q, params);
    if (where === undefined) return 0;
    const [result] = await this.influxql(`SELECT count("value") FROM ${from} WHERE ${where}`, params);
    let total = 0;
    // One series per measurement when counting across metrics.
    for (const s of result?.series ?? []) for (const row of s.values ?? []) total += Number(row[1] ?? 0);
    return total;
  }

  /**
   * Alert history as measurement `alerts` in the alert_history policy: tags event, key, rule,
   * severity, zone; fields alert_id, subject, summary (the annotation text for Grafana) and value.
   */
  async writeAlertEvents(records: readonly AlertRecord[]): Promise<void> {
    if (records.length === 0) return;
    const lines = records.map((r) => {
      for (const [name, tag] of [['event', r.event], ['key', r.key], ['rule', r.rule], ['severity', r.severity], ['zone', r.zone]] as const) {
        if (typeof tag !== 'string' || !ALERT_TAG.test(tag)) throw new StoreRefusal(`refusing alert record: ${name} ${JSON.stringify(tag)} is not a valid tag value`);
      }
      if (!Number.isSafeInteger(r.at) || !Number.isSafeInteger(r.alertId)) throw new StoreRefusal('refusing alert record: at and alertId must be integers');
      const value = r.value !== undefined && Number.isFinite(r.value) ? `,value=${String(r.value)}` : '';
      return `alerts,event=${r.event},key=${r.key},rule=${r.rule},severity=${r.severity},zone=${r.zone} alert_id=${r.alertId}i,subject=${fieldString(r.subject)},summary=${fieldString(r.summary)}${value} ${r.at}`;
    });
    await this.writeLines(lines, ALERT_HISTORY_POLICY);
  }

  async queryAlertEvents(q: AlertQuery): Promise<AlertRecord[]> {
    const params: Params = {};
    const where = this.where(q, params);
    if (where === undefined) return [];
    params['limit'] = q.limit ?? 10_000;
    const [result] = await this.influxql(`SELECT * FROM "${this.database}"."${ALERT_HISTORY_POLICY}"."alerts" WHERE ${where} ORDER BY time DESC LIMIT $limit`, params);
    const series = result?.series?.[0];
    if (!series) return [];
    const col = (row: unknown[], name: string): unknown => row[series.columns.indexOf(name)];
    const records = (series.values ?? []).map((row) => {
      const value = col(row, 'value');
      const record: AlertRecord = {
        alertId: Number(col(row, 'alert_id')),
        key: String(col(row, 'key')),
        rule: String(col(row, 'rule')),
        subject: String(col(row, 'subject')),
        zone: String(col(row, 'zone')),
        event: String(col(row, 'event')),
        severity: col(row, 'severity') === 'critical' ? 'critical' : 'warning',
        at: Number(col(row, 'time')),
        summary: String(col(row, 'summary')),
      };
      return typeof value === 'number' ? { ...record, value } : record;
    });
    return records.sort((a, b) => a.at - b.at || a.alertId - b.alertId);
  }

  async health(): Promise<StoreHealth> {
    try {
      const res = await this.request('GET', '/ping', undefined, undefined, Math.min(this.timeoutMs, HEALTH_TIMEOUT_MS));
      if (res.status === 204) {
        const version = res.headers['x-influxdb-version'] ?? 'unknown version';
        return { ok: true, detail: `InfluxDB ${version} at ${this.base}, database ${this.database}` };
      }
      return { ok: false, detail: `InfluxDB /ping answered ${res.status} at ${this.base}` };
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /** Time and device/zone conditions with their parameters; undefined when the range is empty. */
  private where(q: { device?: string; zone?: string; from: number; to: number }, params: Params): string | undefined {
    const from = clampTime(q.from);
    const to = clampTime(q.to);
    if (!(from < to)) return undefined;
    params['from'] = new Date(from).toISOString();
    params['to'] = new Date(to).toISOString();
    let where = TIME_RANGE;
    if (q.device !== undefined) {
      params['device'] = String(q.device);
      where += ' AND "device" = $device';
    }
    if (q.zone !== undefined) {
      params['zone'] = String(q.zone);
      where += ' AND "zone" = $zone';
    }
    return where;
  }

  private async influxql(q: string, params?: Params): Promise<InfluxResult[]> {
    const form = new URLSearchParams({ q, db: this.database, epoch: 'ms' });
    if (params !== undefined && Object.keys(params).length > 0) form.set('params', JSON.stringify(params));
    const res = await this.request('POST', '/query', form.toString(), 'application/x-www-form-urlencoded');
    if (res.status >= 500) throw new StoreUnavailable(`InfluxDB query failed (${res.status}): ${errorMessage(res)}`);
    if (!ok(res)) throw new InfluxError(`InfluxDB query failed (${res.status}): ${errorMessage(res)}`, res.status);
    const body = JSON.parse(res.body) as { results?: InfluxResult[]; error?: string };
    if (body.error !== undefined) throw new InfluxError(`InfluxDB query failed: ${body.error}`, res.status);
    const results = body.results ?? [];
    for (const r of results) {
      if (r.error !== undefined) throw new InfluxError(`InfluxDB query failed: ${r.error}`, res.status);
    }
    return results;
  }

  private async request(
    method: string,
    path: string,
    body?: string,
    contentType?: string,
    timeoutMs = this.timeoutMs,
  ): Promise<HttpAnswer> {
    const headers: Record<string, string> = {};
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (this.auth !== undefined) headers['authorization'] = this.auth;
    try {
      return await this.http.send(method, path, headers, body, timeoutMs);
    } catch (err) {
      const what = `${method} ${this.base}${path.split('?')[0]}`;
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
        throw new StoreUnavailable(`InfluxDB ${what} timed out after ${timeoutMs} ms`);
      }
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new StoreUnavailable(`InfluxDB ${what} failed: ${err instanceof Error ? err.message : String(err)}${cause}`);
    }
  }
}

function aggregateSql(agg: Aggregate, from: string, where: string): string {
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

/** Alert tag values are ids, rule names and words: the id grammar, dots allowed. */
const ALERT_TAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** A line-protocol string field: quotes and backslashes escaped, line breaks flattened. */
function fieldString(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ')}"`;
}

function firstSeries(results: InfluxResult[]): unknown[][] {
  return results[0]?.series?.[0]?.values ?? [];
}

function ok(res: HttpAnswer): boolean {
  return res.status >= 200 && res.status < 300;
}

function errorMessage(res: HttpAnswer): string {
  const text = res.body;
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: a proxy's page, say
  }
  return text.trim().slice(0, 500) || `HTTP ${res.status}`;
}
