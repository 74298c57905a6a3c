// What the InfluxDB store creates and keeps, chosen so a Grafana panel is a plain
// `SELECT ... FROM "noise" WHERE "zone" = ...`:
//   database     the last path segment of the store URL (client.ts checks its name)
//   retention    "raw" (DEFAULT, rawRetention, 30d unless set) holds every reading;
//                "long_term" (longTermRetention, 104w unless set) holds the 1-minute aggregates
//                the hub writes itself (minutes.ts), same measurements and tags; the continuous
//                queries of earlier releases (cq_1m, cq_1m_peak) are dropped, what they wrote kept;
//                "alert_history" (alertHistoryRetention, as long as long_term unless set) holds
//                the measurement `alerts`, so alert history outlives the raw readings.
//   measurement  the metric name (noise, co2, ...): one per metric, so a query reads one metric only.
//   tags         device; zone (left out when the reading has none: InfluxDB cannot store an empty
//                tag value, and `"zone" = ''` matches such series); unknown=true for metrics
//                outside the canonical list, so dashboards can filter them out.
//   fields       value (float); energy = 10^(value/10) for decibel metrics (noise, noise_peak), so
//                a minute's mean energy gives an energy average: a level in dB is
//                10·log10(mean_energy), while mean_value would be the arithmetic mean of decibels.
//   time         ms precision
// A point is identified by measurement + tag set + time, so the same device, metric and ts written
// twice overwrites one point, the later value winning. Zone and unknown are tags, hence part of
// the series: a device that moves zone starts a new series, and a reading re-sent at an old
// timestamp with a different zone would be stored twice (SQLite keeps one row per device, metric
// and ts). Readings carry the zone they were taken in, so that takes a rewritten resend.
import type { Reading } from '../../domain/reading.ts';
import { DECIBEL_METRICS } from '../minutes.ts';
import type { AlertRecord } from '../store.ts';
import { countTotal, measurementIn, quoteIdentifier, type InfluxResult } from './influxql.ts';
import type { FieldValue, Point } from './line-protocol.ts';

export const RAW_POLICY = 'raw';
export const LONG_TERM_POLICY = 'long_term';
/** The retention policy holding the `alerts` measurement. */
export const ALERT_HISTORY_POLICY = 'alert_history';
export const ALERTS_MEASUREMENT = 'alerts';
/** What earlier releases had InfluxDB downsample with; the hub writes the minutes itself now. */
const OLD_CONTINUOUS_QUERIES = ['cq_1m', 'cq_1m_peak'];

export interface Retentions {
  /** Duration of the default "raw" retention policy, InfluxQL syntax (default '30d'). */
  rawRetention?: string;
  /** Duration of the "long_term" retention policy for 1-minute means (default '104w'). */
  longTermRetention?: string;
  /** Duration of the "alert_history" retention policy (default: the long-term retention). */
  alertHistoryRetention?: string;
}

const DURATION_PATTERN = /^(?:\d+(?:ns|u|µ|ms|s|m|h|d|w))+$/;
const DURATION_PART = /(\d+)(ns|u|µ|ms|s|m|h|d|w)/g;
const MS_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ['ns', 1e-6],
  ['u', 1e-3],
  ['µ', 1e-3],
  ['ms', 1],
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
  ['w', 604_800_000],
]);

/** ms in an InfluxQL duration ('30d', '1h30m') or as SHOW RETENTION POLICIES prints it ('720h0m0s'); 0 = INF. */
export function durationMs(d: string): number {
  if (d === 'INF' || d === 'inf' || d === '0s') return 0;
  let total = 0;
  for (const m of d.matchAll(DURATION_PART)) total += Number(m[1]) * (MS_PER_UNIT.get(m[2]!) ?? NaN);
  return total;
}

/** The shard group duration InfluxDB picks for a new policy, so ALTER keeps shards smaller than the policy. */
export function shardDuration(retentionMs: number): string {
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

/** The three policies' durations, checked, with their defaults. */
export function retentionsOf(r: Retentions): Required<Retentions> {
  const longTermRetention = checkDuration('longTermRetention', r.longTermRetention ?? '104w');
  return {
    rawRetention: checkDuration('rawRetention', r.rawRetention ?? '30d'),
    longTermRetention,
    alertHistoryRetention: checkDuration('alertHistoryRetention', r.alertHistoryRetention ?? longTermRetention),
  };
}

/** A reading as a point of the raw policy. */
export function readingPoint(r: Reading): Point {
  // Tags in key order, as InfluxDB stores them.
  const tags: [string, string][] = [['device', r.device]];
  if (r.unknownMetric === true) tags.push(['unknown', 'true']);
  if (r.zone !== '') tags.push(['zone', r.zone]);
  const fields: [string, FieldValue][] = [['value', r.value]];
  if (r.uncalibrated !== undefined) fields.push(['uncalibrated', r.uncalibrated]);
  if (DECIBEL_METRICS.has(r.metric)) {
    // Finite for any level a sensor can report; beyond ~3000 dB it would not be a number to InfluxDB.
    const energy = 10 ** (r.value / 10);
    if (Number.isFinite(energy)) fields.push(['energy', energy]);
  }
  return { measurement: r.metric, tags, fields, time: r.ts };
}

/**
 * An alert transition as a point of `alerts` in the alert_history policy: tags event, key, rule,
 * severity, zone; fields alert_id, subject, summary (the annotation text for Grafana) and value.
 */
export function alertPoint(r: AlertRecord): Point {
  const fields: [string, FieldValue][] = [
    ['alert_id', BigInt(r.alertId)],
    ['subject', r.subject],
    ['summary', r.summary],
  ];
  if (r.value !== undefined && Number.isFinite(r.value)) fields.push(['value', r.value]);
  if (r.code !== undefined) fields.push(['code', r.code]);
  return {
    measurement: ALERTS_MEASUREMENT,
    tags: [
      ['event', r.event],
      ['key', r.key],
      ['rule', r.rule],
      ['severity', r.severity],
      ['zone', r.zone],
    ],
    fields,
    time: r.at,
  };
}

interface PolicyState {
  duration: number;
  isDefault: boolean;
}

function policiesOf(results: readonly InfluxResult[]): Map<string, PolicyState> {
  const existing = new Map<string, PolicyState>();
  for (const s of results[0]?.series ?? []) {
    const col = (n: string): number => s.columns.indexOf(n);
    for (const row of s.values) {
      existing.set(String(row[col('name')]), {
        duration: durationMs(String(row[col('duration')])),
        isDefault: row[col('default')] === true,
      });
    }
  }
  return existing;
}

/** Runs one InfluxQL statement against the store's database. */
export type RunStatement = (q: string) => Promise<InfluxResult[]>;

/**
 * Creates the database, creates or alters the policies, drops the continuous queries of earlier
 * releases, and copies alert history an older release left in raw. Idempotent.
 */
export async function ensureSchema(
  run: RunStatement,
  database: string,
  retentions: Required<Retentions>,
): Promise<void> {
  const db = quoteIdentifier(database);
  await run(`CREATE DATABASE ${db}`);
  const existing = policiesOf(await run(`SHOW RETENTION POLICIES ON ${db}`));
  const ensurePolicy = async (name: string, duration: string, isDefault: boolean): Promise<void> => {
    const current = existing.get(name);
    const def = isDefault ? ' DEFAULT' : '';
    if (current === undefined) {
      await run(`CREATE RETENTION POLICY ${quoteIdentifier(name)} ON ${db} DURATION ${duration} REPLICATION 1${def}`);
      return;
    }
    const wanted = durationMs(duration);
    if (current.duration === wanted && (!isDefault || current.isDefault)) return;
    await run(
      `ALTER RETENTION POLICY ${quoteIdentifier(name)} ON ${db} DURATION ${duration} SHARD DURATION ${shardDuration(wanted)}${def}`,
    );
  };
  await ensurePolicy(RAW_POLICY, retentions.rawRetention, true);
  await ensurePolicy(LONG_TERM_POLICY, retentions.longTermRetention, false);
  await ensurePolicy(ALERT_HISTORY_POLICY, retentions.alertHistoryRetention, false);

  // The minutes they wrote stay in long_term, where the hub's own go on from them.
  const cqs = await run(`SHOW CONTINUOUS QUERIES`);
  const defined = new Set(
    (cqs[0]?.series ?? [])
      .filter((series) => series.name === database)
      .flatMap((series) => series.values.map((row) => String(row[0]))),
  );
  for (const name of OLD_CONTINUOUS_QUERIES)
    if (defined.has(name)) await run(`DROP CONTINUOUS QUERY ${quoteIdentifier(name)} ON ${db}`);

  // Older releases wrote alert history into raw, where it expires with the readings: copy what is
  // left of it, once, while the new policy is still empty (not at every start: the copy is of up
  // to a month of alerts).
  const alerts = measurementIn(database, ALERT_HISTORY_POLICY, ALERTS_MEASUREMENT);
  if (countTotal(await run(`SELECT count("alert_id") FROM ${alerts}`)) === 0) {
    await run(`SELECT * INTO ${alerts} FROM ${measurementIn(database, RAW_POLICY, ALERTS_MEASUREMENT)} GROUP BY *`);
  }
}
