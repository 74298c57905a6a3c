// Embedded store for sites without InfluxDB: one SQLite file, one row per (device, metric, ts).
// It answers every query exactly as InfluxStore does for the same data (tests/store-contract.ts
// holds both to it): windows aligned to the epoch, only windows with data, LAeq as an energy
// average.
//
// Minutes: table `minutes` holds each (device, metric, minute)'s aggregate, rewritten from the raw
// readings by rollUp, one transaction per call (minutes.ts).
//
// Retention: prune(now) deletes readings older than rawRetentionMs, and minutes and alert history
// older than longTermRetentionMs (kept longer, so reports over months still find them). Nothing
// here schedules it; whoever owns the hub's timers calls it (hourly is plenty).
import Database from 'better-sqlite3';
import { SqliteThreads, WRITER, type ReadBound } from './sqlite-threads.ts';
import { MAX_AHEAD_MS, type Reading } from '../domain/reading.ts';
import {
  DECIBEL_METRICS,
  beyondRetention,
  MINUTE_MS,
  minuteOf,
  type MinuteAggregate,
  type Touched,
} from './minutes.ts';
import {
  StoreRefusal,
  StoreUnavailable,
  type Aggregate,
  type AlertQuery,
  type AlertRecord,
  type Pruned,
  type MinuteQuery,
  type ReadingQuery,
  type SeriesPoint,
  type Store,
  type StoreHealth,
} from './store.ts';
import {
  ALERT_QUERY_LIMIT,
  checkAggregate,
  checkEvery,
  checkLimit,
  checkMetric,
  checkScope,
  isEmptyRange,
  refuseUnwritable,
} from './validate.ts';

export interface SqliteStoreOptions {
  /** Database file; ':memory:' for a store that lives as long as the process. */
  path: string;
  /** Age beyond which prune() deletes readings (default 30 days). */
  rawRetentionMs?: number;
  /** Age beyond which prune() deletes minutes and alert history (default 104 weeks). */
  longTermRetentionMs?: number;
  /** The hub's clock: where the raw retention begins. */
  now?: () => number;
  /**
   * Reads answered in threads of their own (sqlite-threads.ts), so they never hold the hub's; needs
   * a file. `true`: with the default bound on reads waiting for them, and the default threads.
   */
  readThreads?: boolean | ReadBound;
  /**
   * Writes, roll-ups and prunes made in a thread of their own, so neither they nor a checkpoint's
   * fsync hold the hub's; needs a file.
   */
  writeThread?: boolean;
  /** Opens the file only to read it: a read thread's connection. */
  readOnly?: boolean;
  /**
   * The write thread's connection, which holds no one while it waits: every commit fsync'd before
   * it is answered, and a roll-up made in one transaction rather than in slices.
   */
  inWriteThread?: boolean;
}

const DAY_MS = 86_400_000;
/** (device, metric, minute)s rolled up per transaction: a few milliseconds of the event loop. */
const ROLL_UP_SLICE = 500;

/** Rows of each table one step of a prune deletes. */
const PRUNE_STEP_ROWS = 10_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings (
  device  TEXT    NOT NULL,
  metric  TEXT    NOT NULL,
  ts      INTEGER NOT NULL,
  zone    TEXT    NOT NULL,
  value   REAL    NOT NULL,
  unknown INTEGER NOT NULL DEFAULT 0,
  uncalibrated REAL,
  PRIMARY KEY (device, metric, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_zone ON readings (zone, metric, ts);
CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts);
CREATE TABLE IF NOT EXISTS alerts (
  alert_id INTEGER NOT NULL,
  event    TEXT    NOT NULL,
  at       INTEGER NOT NULL,
  key      TEXT    NOT NULL,
  rule     TEXT    NOT NULL,
  subject  TEXT    NOT NULL,
  zone     TEXT    NOT NULL,
  severity TEXT    NOT NULL,
  summary  TEXT    NOT NULL,
  value    REAL,
  code     TEXT,
  PRIMARY KEY (alert_id, event, at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at);
CREATE TABLE IF NOT EXISTS minutes (
  device  TEXT    NOT NULL,
  metric  TEXT    NOT NULL,
  ts      INTEGER NOT NULL,
  zone    TEXT    NOT NULL,
  mean    REAL    NOT NULL,
  min     REAL    NOT NULL,
  max     REAL    NOT NULL,
  count   INTEGER NOT NULL,
  energy  REAL,
  PRIMARY KEY (device, metric, ts, zone)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS minutes_zone ON minutes (zone, metric, ts);
CREATE INDEX IF NOT EXISTS minutes_ts ON minutes (ts);
`;

/**
 * The minutes of raw readings, one per (device, metric, minute, zone): a device that changes zone
 * within a minute has a part of it in each, as InfluxDB keeps them.
 */
const MINUTES_OF = (where: string) => `
INSERT INTO minutes (device, metric, ts, zone, mean, min, max, count, energy)
SELECT device, metric, ts - (((ts % ${MINUTE_MS}) + ${MINUTE_MS}) % ${MINUTE_MS}) AS minute, zone,
       avg(value), min(value), max(value), count(*),
       CASE WHEN metric IN (${[...DECIBEL_METRICS].map((m) => `'${m}'`).join(', ')}) THEN avg(pow(10, value / 10.0)) END
FROM readings WHERE ${where}
GROUP BY device, metric, minute, zone`;

/** One (device, metric, minute) rewritten from its raw readings. */
const ROLL_UP = MINUTES_OF(`device = @device AND metric = @metric AND ts >= @minute AND ts < @minute + ${MINUTE_MS}`);

/** Aggregate expressions over `value`; `last` takes the value of the row holding max(ts). */
const AGG_SQL: Record<Aggregate, string> = {
  mean: 'avg(value)',
  min: 'min(value)',
  max: 'max(value)',
  last: 'value',
  laeq: '10 * log10(avg(pow(10, value / 10.0)))',
};

/** Window start, floored to the epoch also for times before 1970 (SQLite's % truncates). */
const WINDOW = '(ts - (((ts % @every) + @every) % @every))';

interface Row {
  ts: number;
  value: number | null;
  device?: string;
  uncalibrated?: number | null;
}

type Scope = { device?: string; zone?: string; metric?: string };

/** SQLite's result codes that are the database's state rather than the data's: worth a retry. */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL|CORRUPT|NOTADB|AUTH)/;
/** Codes that refuse the rows themselves. */
const REFUSAL_CODES = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/;

/** StoreUnavailable or StoreRefusal for SQLite's own errors; anything else is left as it is. */
function classified(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const message = `SQLite write failed: ${err instanceof Error ? err.message : String(err)}`;
  if (typeof code === 'string' && UNAVAILABLE_CODES.test(code)) return new StoreUnavailable(`${message} (${code})`);
  if (typeof code === 'string' && REFUSAL_CODES.test(code)) return new StoreRefusal(`${message} (${code})`);
  // better-sqlite3 throws a TypeError once the connection is closed (the hub is stopping).
  if (err instanceof TypeError && /database connection is not open/.test(err.message))
    return new StoreUnavailable(message);
  return err;
}

export class SqliteStore implements Store {
  readonly name = 'sqlite';
  readonly path: string;
  readonly rawRetentionMs: number;
  readonly longTermRetentionMs: number;
  private readonly now: () => number;
  private readonly inWriteThread: boolean = false;

  private readonly db: Database.Database;
  private readonly reads: SqliteThreads | undefined;
  private readonly writes: SqliteThreads | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  private insertBatch: ((readings: readonly Reading[]) => void) | undefined;
  private rollUpBatch: ((keys: ReadonlyArray<{ device: string; metric: string; minute: number }>) => void) | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.path = opts.path;
    this.rawRetentionMs = opts.rawRetentionMs ?? 30 * DAY_MS;
    if (!(this.rawRetentionMs > 0)) throw new Error(`rawRetentionMs ${this.rawRetentionMs} must be positive`);
    this.longTermRetentionMs = opts.longTermRetentionMs ?? 104 * 7 * DAY_MS;
    if (!(this.longTermRetentionMs > 0))
      throw new Error(`longTermRetentionMs ${this.longTermRetentionMs} must be positive`);
    this.now = opts.now ?? Date.now;
    this.db = new Database(opts.path, { readonly: opts.readOnly === true });
    this.db.pragma('busy_timeout = 5000');
    if (opts.readOnly === true) return;
    // WAL lets readers run during a write batch. The journal frees readings once the store has
    // them, so the writer thread's commits are fsync'd (FULL), where the wait holds no one else;
    // NORMAL, on any other connection, syncs only at checkpoints: on power loss it can lose the
    // last commits, never the file.
    this.db.pragma('journal_mode = WAL');
    this.inWriteThread = opts.inWriteThread === true;
    this.db.pragma(`synchronous = ${this.inWriteThread ? 'FULL' : 'NORMAL'}`);
    if (opts.path === ':memory:') return;
    const file = {
      path: opts.path,
      rawRetentionMs: this.rawRetentionMs,
      longTermRetentionMs: this.longTermRetentionMs,
    };
    if (opts.readThreads)
      this.reads = new SqliteThreads(
        { ...file, role: 'reader' },
        opts.readThreads === true ? undefined : opts.readThreads,
      );
    if (opts.writeThread) this.writes = new SqliteThreads({ ...file, role: 'writer' }, WRITER);
  }

  async init(): Promise<void> {
    const fresh = !this.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'minutes'").get();
    this.db.exec(SCHEMA);
    // A store from before minutes were kept: its readings make their minutes once.
    if (fresh) this.db.exec(MINUTES_OF('true'));
    // Alert history from before fault codes were kept, readings from before calibration.
    const columns = (table: string) =>
      (this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
    if (!columns('alerts').includes('code')) this.db.exec('ALTER TABLE alerts ADD COLUMN code TEXT');
    if (!columns('readings').includes('uncalibrated'))
      this.db.exec('ALTER TABLE readings ADD COLUMN uncalibrated REAL');
    const insert = this.db.prepare(
      `INSERT INTO readings (device, metric, ts, zone, value, unknown, uncalibrated) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device, metric, ts) DO UPDATE SET zone = excluded.zone, value = excluded.value, unknown = excluded.unknown, uncalibrated = excluded.uncalibrated`,
    );
    this.insertBatch = this.db.transaction((readings: readonly Reading[]) => {
      for (const r of readings)
        insert.run(r.device, r.metric, r.ts, r.zone, r.value, r.unknownMetric === true ? 1 : 0, r.uncalibrated ?? null);
    });
    const clear = this.db.prepare('DELETE FROM minutes WHERE device = @device AND metric = @metric AND ts = @minute');
    const rollUp = this.db.prepare(ROLL_UP);
    this.rollUpBatch = this.db.transaction(
      (keys: ReadonlyArray<{ device: string; metric: string; minute: number }>) => {
        for (const key of keys) {
          clear.run(key);
          rollUp.run(key);
        }
      },
    );
  }

  async write(readings: readonly Reading[]): Promise<void> {
    if (readings.length === 0) return;
    refuseUnwritable(readings);
    // The writer thread sets its own statements up, also when this thread's set-up failed at start.
    if (this.writes) return this.writes.ask('write', readings, this.now());
    if (this.insertBatch === undefined) throw new Error('SqliteStore.write before init()');
    try {
      this.insertBatch(readings);
    } catch (err) {
      throw classified(err);
    }
  }

  async rollUp(touched: readonly Touched[]): Promise<void> {
    if (this.writes) return this.writes.ask('rollUp', touched, this.now());
    if (this.rollUpBatch === undefined) throw new Error('SqliteStore.rollUp before init()');
    // The minute the retention's edge falls in may have lost readings to a prune already.
    const from = minuteOf(this.now() - this.rawRetentionMs) + MINUTE_MS;
    const keys = touched.flatMap((t) =>
      t.pairs.filter(([, minute]) => minute >= from).map(([device, minute]) => ({ device, metric: t.metric, minute })),
    );
    // On the hub's thread, in slices, each its own transaction, with a turn of the event loop
    // between: the hub's rules and sockets run there. The writer thread holds no one, and each of
    // its commits is fsync'd: one transaction.
    const slice = this.inWriteThread ? keys.length : ROLL_UP_SLICE;
    for (let i = 0; i < keys.length; i += slice) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      try {
        this.rollUpBatch(keys.slice(i, i + slice));
      } catch (err) {
        throw classified(err);
      }
    }
  }

  async query(q: ReadingQuery): Promise<SeriesPoint[]> {
    if (this.reads) return this.reads.ask('query', q, this.now());
    checkScope(q);
    checkMetric(q.metric);
    if (isEmptyRange(q.from, q.to)) return [];
    const cutoff = this.now() - this.rawRetentionMs;
    if (q.from < cutoff) {
      return beyondRetention(
        q,
        { cutoff, oldest: this.now() - this.longTermRetentionMs, newest: this.now() + MAX_AHEAD_MS },
        (m) => this.queryMinutes(m),
        async (r) => this.queryRaw(r),
      );
    }
    return this.queryRaw(q);
  }

  /** The answer from the raw readings alone. */
  private queryRaw(q: ReadingQuery): SeriesPoint[] {
    const scope = this.scopeSql(q);
    const params: Record<string, string | number> = { ...this.scopeParams(q), from: q.from, to: q.to };
    if (q.agg === undefined) {
      const base = `SELECT ts, value, device, uncalibrated FROM readings WHERE ${scope}`;
      let sql = `${base} ORDER BY ts, device`;
      if (q.limit !== undefined) {
        if (checkLimit(q.limit) === 0) return [];
        params['limit'] = q.limit;
        sql = `SELECT * FROM (${base} ORDER BY ts DESC, device DESC LIMIT @limit) ORDER BY ts, device`;
      }
      const rows = this.stmt(sql).all(params) as Row[];
      return rows.map((r) => ({
        ts: r.ts,
        value: r.value as number,
        device: r.device as string,
        ...(typeof r.uncalibrated === 'number' && { uncalibrated: r.uncalibrated }),
      }));
    }

    const expr = AGG_SQL[checkAggregate(q.agg)];
    // A bare column next to max() takes its value from the row holding the max: that is `last`.
    const lastTs = q.agg === 'last' ? ', max(ts) AS last_ts' : '';
    if (q.every === undefined) {
      const row = this.stmt(`SELECT ${expr} AS value${lastTs} FROM readings WHERE ${scope}`).get(params) as
        Row | undefined;
      return row === undefined || row.value === null ? [] : [{ ts: q.from, value: row.value }];
    }
    params['every'] = checkEvery(q.every);
    const rows = this.stmt(
      `SELECT ${WINDOW} AS w, ${expr} AS value${lastTs} FROM readings WHERE ${scope} GROUP BY w ORDER BY w`,
    ).all(params) as { w: number; value: number | null }[];
    return rows.filter((r) => r.value !== null).map((r) => ({ ts: r.w, value: r.value as number }));
  }

  async queryMinutes(q: MinuteQuery): Promise<MinuteAggregate[]> {
    if (this.reads) return this.reads.ask('queryMinutes', q, this.now());
    checkScope(q);
    checkMetric(q.metric);
    if (isEmptyRange(q.from, q.to)) return [];
    const params: Record<string, string | number> = { ...this.scopeParams(q), from: q.from, to: q.to };
    const base = `SELECT device, metric, ts, zone, mean, min, max, count, energy FROM minutes WHERE ${this.scopeSql(q)}`;
    let sql = `${base} ORDER BY ts, device, zone`;
    if (q.limit !== undefined) {
      if (checkLimit(q.limit) === 0) return [];
      params['limit'] = q.limit;
      sql = `SELECT * FROM (${base} ORDER BY ts DESC, device DESC, zone DESC LIMIT @limit) ORDER BY ts, device, zone`;
    }
    const rows = this.stmt(sql).all(params) as Array<Omit<MinuteAggregate, 'energy'> & { energy: number | null }>;
    return rows.map(({ energy, ...m }) => ({ ...m, ...(energy !== null && { energy }) }));
  }

  async count(q: { device?: string; zone?: string; metric?: string; from: number; to: number }): Promise<number> {
    if (this.reads) return this.reads.ask('count', q, this.now());
    if (q.metric !== undefined) checkMetric(q.metric);
    if (isEmptyRange(q.from, q.to)) return 0;
    const row = this.stmt(`SELECT count(*) AS n FROM readings WHERE ${this.scopeSql(q)}`).get({
      ...this.scopeParams(q),
      from: q.from,
      to: q.to,
    }) as { n: number };
    return row.n;
  }

  async writeAlertEvents(records: readonly AlertRecord[]): Promise<void> {
    if (this.writes) return this.writes.ask('writeAlertEvents', records, this.now());
    const insert = this.stmt(
      `INSERT INTO alerts (alert_id, event, at, key, rule, subject, zone, severity, summary, value, code)
       VALUES (@alertId, @event, @at, @key, @rule, @subject, @zone, @severity, @summary, @value, @code)
       ON CONFLICT (alert_id, event, at) DO UPDATE SET severity = excluded.severity, summary = excluded.summary, value = excluded.value, code = excluded.code`,
    );
    try {
      this.db.transaction(() => {
        for (const r of records) insert.run({ ...r, value: r.value ?? null, code: r.code ?? null });
      })();
    } catch (err) {
      throw classified(err);
    }
  }

  async queryAlertEvents(q: AlertQuery): Promise<AlertRecord[]> {
    if (this.reads) return this.reads.ask('queryAlertEvents', q, this.now());
    const params: Record<string, string | number> = { from: q.from, to: q.to, limit: q.limit ?? ALERT_QUERY_LIMIT };
    let where = 'at >= @from AND at < @to';
    if (q.zone !== undefined) {
      where += ' AND zone = @zone';
      params['zone'] = q.zone;
    }
    const rows = this.stmt(
      `SELECT * FROM (SELECT alert_id AS alertId, key, rule, subject, zone, event, severity, at, summary, value, code FROM alerts WHERE ${where} ORDER BY at DESC, alert_id DESC LIMIT @limit) ORDER BY at, alertId`,
    ).all(params) as (Omit<AlertRecord, 'value' | 'code'> & { value: number | null; code: string | null })[];
    return rows.map(({ value, code, ...r }) => ({
      ...r,
      ...(value !== null && { value }),
      ...(code !== null && { code }),
    }));
  }

  /**
   * Deletes readings older than rawRetentionMs, minutes and alert history older than
   * longTermRetentionMs, before `now` (ms): in steps, so a write asked meanwhile waits for one
   * step, not for weeks of rows on a slow disk (nor does the hub's thread, in process).
   */
  async prune(now: number = this.now()): Promise<Pruned> {
    const pruned: Pruned = { readings: 0, minutes: 0, alertEvents: 0 };
    for (;;) {
      const step = this.writes ? await this.writes.ask('pruneStep', now, now) : await this.pruneStep(now);
      pruned.readings += step.readings;
      pruned.minutes += step.minutes;
      pruned.alertEvents += step.alertEvents;
      if (step.done) return pruned;
      if (!this.writes) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** One step of prune(): the oldest PRUNE_STEP_ROWS or so of each table, in one transaction. */
  async pruneStep(now: number): Promise<Pruned & { done: boolean }> {
    const rawCutoff = now - this.rawRetentionMs;
    const longTermCutoff = now - this.longTermRetentionMs;
    return this.db.transaction(() => {
      const readings = this.pruneOldest('readings', 'ts', rawCutoff);
      const minutes = this.pruneOldest('minutes', 'ts', longTermCutoff);
      const alertEvents = this.pruneOldest('alerts', 'at', longTermCutoff);
      return {
        readings: readings.removed,
        minutes: minutes.removed,
        alertEvents: alertEvents.removed,
        done: readings.done && minutes.done && alertEvents.done,
      };
    })();
  }

  /**
   * Deletes a table's rows before `cutoff`, at most up to the time of its PRUNE_STEP_ROWS-th oldest
   * (and the rows that share that time: the tables have no row id to count by).
   */
  private pruneOldest(table: string, column: string, cutoff: number): { removed: number; done: boolean } {
    const edge = this.stmt(
      `SELECT ${column} AS at FROM ${table} WHERE ${column} < @cutoff ORDER BY ${column} LIMIT 1 OFFSET ${PRUNE_STEP_ROWS}`,
    ).get({ cutoff }) as { at: number } | undefined;
    const removed = this.stmt(`DELETE FROM ${table} WHERE ${column} ${edge ? '<=' : '<'} @cutoff`).run({
      cutoff: edge?.at ?? cutoff,
    }).changes;
    return { removed, done: edge === undefined };
  }

  async health(): Promise<StoreHealth> {
    try {
      this.stmt('SELECT 1 FROM readings LIMIT 1').get();
      const { v } = this.db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
      return { ok: true, detail: `SQLite ${v} at ${this.path}` };
    } catch (err) {
      return { ok: false, detail: `SQLite at ${this.path}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.writes?.close(), this.reads?.close()]);
    if (this.db.open) this.db.close();
    this.statements.clear();
    this.insertBatch = undefined;
  }

  /** Conditions from fixed fragments only: values always go through named parameters. */
  private scopeSql(q: Scope): string {
    let sql = 'ts >= @from AND ts < @to';
    if (q.device !== undefined) sql += ' AND device = @device';
    if (q.zone !== undefined) sql += ' AND zone = @zone';
    if (q.metric !== undefined) sql += ' AND metric = @metric';
    return sql;
  }

  private scopeParams(q: Scope): Record<string, string> {
    const p: Record<string, string> = {};
    if (q.device !== undefined) p['device'] = q.device;
    if (q.zone !== undefined) p['zone'] = q.zone;
    if (q.metric !== undefined) p['metric'] = q.metric;
    return p;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}
