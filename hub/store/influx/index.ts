// The InfluxDB store: the one entry point the hub imports. It composes the parts the way
// Telegraf's InfluxDB output does (serializer / client / output):
//   line-protocol.ts  points → text, escaped (pure)
//   influxql.ts       queries built with bound values, answers parsed and checked (pure)
//   schema.ts         what is created and kept: database, policies, point shapes
//   minutes.ts        the 1-minute aggregates: computed from raw, kept in long_term, read back
//   client.ts         HTTP, and what each failure means: unavailable (retry) or refused (set aside)
// This file checks what it is given (validate.ts, shared with SQLite), creates the database again
// when it went missing, cuts large writes into chunks, and rewrites the minutes it is given.
import { MAX_AHEAD_MS, type Reading } from '../../domain/reading.ts';
import {
  StoreBusy,
  StoreRefusal,
  type AlertQuery,
  type AlertRecord,
  type MinuteQuery,
  type ReadingQuery,
  type SeriesPoint,
  type Store,
  type StoreHealth,
} from '../store.ts';
import {
  ALERT_QUERY_LIMIT,
  checkAggregate,
  checkEvery,
  checkLimit,
  checkMetric,
  checkScope,
  refuseUnwritable,
} from '../validate.ts';
import { SchemaMissing, InfluxClient, parseInfluxUrl } from './client.ts';
import {
  aggregatePoints,
  aggregateQuery,
  alertRecords,
  alertsQuery,
  countQuery,
  countTotal,
  everyMeasurementIn,
  measurementIn,
  rawPoints,
  rawQuery,
  timeOf,
  whereScope,
  type Statement,
  type Where,
} from './influxql.ts';
import { Turns } from '../../domain/turns.ts';
import { encodePoint, LineProtocolError, type Point } from './line-protocol.ts';
import {
  ALERT_HISTORY_POLICY,
  ALERTS_MEASUREMENT,
  durationMs,
  LONG_TERM_POLICY,
  RAW_POLICY,
  alertPoint,
  ensureSchema,
  readingPoint,
  retentionsOf,
  type Retentions,
} from './schema.ts';
import { beyondRetention, MINUTE_MS, minuteOf, spans, type MinuteAggregate, type Touched } from '../minutes.ts';
import { DEVICES_PER_QUERY, minutePoint, minuteRows, minutesQuery, nthMinuteQuery, rollUpQuery } from './minutes.ts';

export { ALERT_HISTORY_POLICY, LONG_TERM_POLICY } from './schema.ts';

export type InfluxSchema = 'managed' | 'external';

export interface InfluxStoreOptions extends Retentions {
  /** http(s)://[user:pass@]host:port[/prefix]/database */
  url: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /**
   * managed (default): the hub creates the database and its retention policies. external: it
   * creates nothing, for an InfluxDB whose administrator keeps them (or maps them to buckets).
   */
  schema?: InfluxSchema;
  /** The hub's clock: where the raw retention begins. */
  now?: () => number;
  /** Reads waiting for InfluxDB at most, those under way included (storage.max_waiting_reads); past it a read is busy. */
  reads?: { maxWaiting: number; onBusy?: (maxWaiting: number) => void };
}

/** Reads asked of InfluxDB at once; the others wait their turn, within the bound on waiting reads. */
const READS_AT_ONCE = 4;
const DEFAULT_MAX_WAITING_READS = 64;

const WRITE_CHUNK = 5000;
const HEALTH_TIMEOUT_MS = 2000;
/** Alert tag values are ids, rule names and words: the id grammar, dots allowed. */
const ALERT_TAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** The point as a line; what the line protocol cannot carry (a time beyond 2262, say) is refused for good. */
function encoded(point: Point, what: string): string {
  try {
    return encodePoint(point);
  } catch (err) {
    if (err instanceof LineProtocolError) throw new StoreRefusal(`refusing ${what}: ${err.message}`);
    throw err;
  }
}

export class InfluxStore implements Store {
  readonly name = 'influxdb';
  readonly database: string;
  private readonly retentions: Required<Retentions>;
  private readonly timeoutMs: number;
  private readonly client: InfluxClient;
  private readonly now: () => number;
  private readonly schema: InfluxSchema;
  private readonly reads: Turns;
  private readonly readBound: NonNullable<InfluxStoreOptions['reads']>;
  /** init() has succeeded since the database was last found missing. */
  private ready = false;
  /** The schema being set up: the hub's start and the writer's first write share one. */
  private initialising: Promise<void> | undefined;

  constructor(opts: InfluxStoreOptions) {
    const target = parseInfluxUrl(opts.url);
    this.database = target.database;
    this.retentions = retentionsOf(opts);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.client = new InfluxClient(target, this.timeoutMs);
    this.readBound = opts.reads ?? { maxWaiting: DEFAULT_MAX_WAITING_READS };
    const waiting = Math.max(0, this.readBound.maxWaiting - READS_AT_ONCE);
    this.reads = new Turns(Math.min(READS_AT_ONCE, this.readBound.maxWaiting), waiting);
    this.now = opts.now ?? Date.now;
    this.schema = opts.schema ?? 'managed';
  }

  init(): Promise<void> {
    this.initialising ??= (async () => {
      if (this.schema === 'managed') await ensureSchema((q) => this.client.query(q), this.database, this.retentions);
      this.ready = true;
    })().finally(() => {
      this.initialising = undefined;
    });
    return this.initialising;
  }

  async write(readings: readonly Reading[]): Promise<void> {
    if (readings.length === 0) return;
    // Every reading is checked and encoded before the first is sent, so a bad one never leaves half a batch.
    refuseUnwritable(readings);
    await this.writeLines(
      readings.map((r) => encoded(readingPoint(r), 'reading')),
      RAW_POLICY,
    );
  }

  async rollUp(touched: readonly Touched[]): Promise<void> {
    const raw = (metric: string) => measurementIn(this.database, RAW_POLICY, metric);
    // The minute the raw retention's edge falls in may have lost readings already.
    const rawMs = durationMs(this.retentions.rawRetention);
    const from = rawMs === 0 ? -Infinity : minuteOf(this.now() - rawMs) + MINUTE_MS;
    // A minute the long-term policy would drop at once is not written: InfluxDB would refuse it.
    const longTermMs = durationMs(this.retentions.longTermRetention);
    const kept = (m: MinuteAggregate) => longTermMs === 0 || m.ts + MINUTE_MS > this.now() - longTermMs;
    for (const t of touched) {
      const minutes: MinuteAggregate[] = [];
      const rolled = t.minutes.filter((m) => m >= from);
      for (let i = 0; i < t.devices.length; i += DEVICES_PER_QUERY) {
        const devices = t.devices.slice(i, i + DEVICES_PER_QUERY);
        for (const [start, end] of spans(rolled))
          for (const m of minuteRows(
            await this.client.query(rollUpQuery(raw(t.metric), t.metric, devices, start, end)),
            t.metric,
          ))
            minutes.push(m);
      }
      await this.writeLines(
        minutes.filter(kept).map((m) => encoded(minutePoint(m), 'minute')),
        LONG_TERM_POLICY,
      );
    }
  }

  async writeAlertEvents(records: readonly AlertRecord[]): Promise<void> {
    if (records.length === 0) return;
    const lines = records.map((r) => {
      for (const [name, tag] of [
        ['event', r.event],
        ['key', r.key],
        ['rule', r.rule],
        ['severity', r.severity],
        ['zone', r.zone],
      ] as const) {
        if (typeof tag !== 'string' || !ALERT_TAG.test(tag))
          throw new StoreRefusal(`refusing alert record: ${name} ${JSON.stringify(tag)} is not a valid tag value`);
      }
      if (!Number.isSafeInteger(r.at) || !Number.isSafeInteger(r.alertId))
        throw new StoreRefusal('refusing alert record: at and alertId must be integers');
      return encoded(alertPoint(r), 'alert record');
    });
    await this.writeLines(lines, ALERT_HISTORY_POLICY);
  }

  private async writeLines(lines: readonly string[], policy: string): Promise<void> {
    // A database or policy that was missing when the hub started, or dropped since, is created (again).
    if (!this.ready) await this.init();
    try {
      for (let i = 0; i < lines.length; i += WRITE_CHUNK)
        await this.client.write(lines.slice(i, i + WRITE_CHUNK).join('\n'), policy);
    } catch (err) {
      if (!(err instanceof SchemaMissing)) throw err;
      if (this.schema === 'managed') {
        this.ready = false;
        throw err;
      }
      throw new SchemaMissing(
        `${err.message}: the hub does not create it (storage.influx_schema is external); create database ${this.database} with its retention policies raw (default), long_term and alert_history, or map them to buckets`,
      );
    }
  }

  /**
   * One read of the API's: however many are asked at once, READS_AT_ONCE answers are fetched and
   * parsed together and the rest wait, within storage.max_waiting_reads; past it busy at once.
   */
  private read(statement: Statement): ReturnType<InfluxClient['query']> {
    const { maxWaiting, onBusy } = this.readBound;
    return this.reads.run(
      () => this.client.query(statement),
      () => {
        onBusy?.(maxWaiting);
        throw new StoreBusy(
          `${maxWaiting} reads already wait for InfluxDB (storage.max_waiting_reads); try again shortly`,
        );
      },
    );
  }

  async queryMinutes(q: MinuteQuery): Promise<MinuteAggregate[]> {
    checkScope(q);
    const scope = whereScope(q);
    if (scope === undefined) return [];
    const metric = checkMetric(q.metric);
    const longTerm = measurementIn(this.database, LONG_TERM_POLICY, metric);
    if (q.limit !== undefined && checkLimit(q.limit) === 0) return [];
    const read = async (since?: number) => minuteRows(await this.read(minutesQuery(longTerm, scope, since)), metric);
    if (q.limit === undefined) return read();
    // From the limit-th newest minute on: at most the limit and the minutes sharing that one's time
    // are read, and ties at it are kept in the same (device, zone) order as the others.
    const rows = await read(await this.minuteAt(longTerm, scope, q.limit, 'newest'));
    return rows.slice(Math.max(0, rows.length - q.limit));
  }

  /** Where the query's minutes begin: its own start, or the first minute kept after it. */
  private async oldestMinute(q: ReadingQuery): Promise<number> {
    const scope = whereScope(q);
    if (scope === undefined) return q.from;
    const longTerm = measurementIn(this.database, LONG_TERM_POLICY, checkMetric(q.metric));
    // None at all: nothing to read a day at a time.
    return (await this.minuteAt(longTerm, scope, 1, 'oldest')) ?? q.to;
  }

  /** The time of the scope's n-th newest or oldest minute; undefined when it has fewer. */
  private async minuteAt(
    longTerm: string,
    scope: Where,
    n: number,
    order: 'newest' | 'oldest',
  ): Promise<number | undefined> {
    const row = (await this.read(nthMinuteQuery(longTerm, scope, n, order)))[0]?.series[0]?.values[0];
    return row === undefined ? undefined : timeOf(row, `the ${order} minute`);
  }

  async query(q: ReadingQuery): Promise<SeriesPoint[]> {
    checkScope(q);
    const rawMs = durationMs(this.retentions.rawRetention);
    // An infinite raw retention (INF, 0 ms) keeps every reading raw.
    const cutoff = this.now() - rawMs;
    if (rawMs > 0 && q.from < cutoff) {
      const longTermMs = durationMs(this.retentions.longTermRetention);
      return beyondRetention(
        q,
        {
          cutoff,
          // An infinite long-term retention keeps every minute: they begin at the scope's oldest.
          oldest: longTermMs === 0 ? await this.oldestMinute(q) : this.now() - longTermMs,
          newest: this.now() + MAX_AHEAD_MS,
        },
        (m) => this.queryMinutes(m),
        (r) => this.queryRaw(r),
      );
    }
    return this.queryRaw(q);
  }

  /** The answer from the raw policy alone. */
  private async queryRaw(q: ReadingQuery): Promise<SeriesPoint[]> {
    const from = measurementIn(this.database, RAW_POLICY, checkMetric(q.metric));
    const scope = whereScope(q);
    if (scope === undefined) return [];
    if (q.agg === undefined) {
      // LIMIT 0 would mean "no limit" to InfluxDB.
      if (q.limit !== undefined && checkLimit(q.limit) === 0) return [];
      return rawPoints(await this.read(rawQuery(from, scope, q.limit)));
    }
    const every = q.every === undefined ? undefined : checkEvery(q.every);
    const results = await this.read(aggregateQuery(checkAggregate(q.agg), from, scope, every));
    return aggregatePoints(results, every === undefined ? q.from : undefined);
  }

  async count(q: { device?: string; zone?: string; metric?: string; from: number; to: number }): Promise<number> {
    const from =
      q.metric === undefined
        ? everyMeasurementIn(this.database, RAW_POLICY)
        : measurementIn(this.database, RAW_POLICY, checkMetric(q.metric));
    const scope = whereScope(q);
    if (scope === undefined) return 0;
    return countTotal(await this.read(countQuery(from, scope)));
  }

  async queryAlertEvents(q: AlertQuery): Promise<AlertRecord[]> {
    const scope = whereScope(q);
    if (scope === undefined) return [];
    return alertRecords(
      await this.read(
        alertsQuery(
          measurementIn(this.database, ALERT_HISTORY_POLICY, ALERTS_MEASUREMENT),
          scope,
          q.limit ?? ALERT_QUERY_LIMIT,
        ),
      ),
    );
  }

  async health(): Promise<StoreHealth> {
    try {
      const ping = await this.client.ping(Math.min(this.timeoutMs, HEALTH_TIMEOUT_MS));
      if (ping.up)
        return { ok: true, detail: `InfluxDB ${ping.version} at ${this.client.base}, database ${this.database}` };
      return { ok: false, detail: `InfluxDB /ping answered ${ping.status} at ${this.client.base}` };
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
