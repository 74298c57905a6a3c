// The alert state on disk (data_dir/alerts.sqlite, WAL): alerts and their history, silences,
// per-key notification state, the rule engine's per-device evaluation state (windows, pending
// timers) and the last journal entry applied. One transaction per journal batch holds all of it,
// so after a crash the state and the journal position it reflects always agree. Commits are
// fsync'd only when they must survive a power cut (see `sync`): a killed process loses nothing
// committed either way, and an unsynced batch is applied again from the journal.
//
// The API reads alert state through `view()`: an `AlertView` on a read-only connection of its
// own, with no method that writes, so nothing the API does can change an alert, a silence or the
// rules' state — not through a method, and not through SQL, which SQLite refuses on it.
import Database from 'better-sqlite3';
import {
  matches,
  inForce,
  type Alert,
  type AlertEvent,
  type Silence,
  type AlertFilter,
  type AlertView,
} from '../domain/alert.ts';
import type { Severity } from '../domain/requirement.ts';

/** What notification subscribers were last told about a key, and its flapping record. */
export interface KeyState {
  /** Event times of the recent firing/resolved changes, as a flap is counted. */
  changes: number[];
  /** Wall-clock time of the last change: how long a key has been quiet, whatever a device's clock says. */
  changedAt?: number;
  flappingSince?: number;
  told?: { alertId: number; state: 'firing' | 'resolved'; severity: Severity; acked: boolean };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL, zone TEXT NOT NULL,
  severity TEXT NOT NULL, updated_at INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_key ON alerts (key, id);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, id);
CREATE TABLE IF NOT EXISTS alert_events (
  alert_id INTEGER NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, at INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events (alert_id, seq);
CREATE TABLE IF NOT EXISTS silences (id INTEGER PRIMARY KEY, ends_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
`;

/** Resolved alerts and their history are kept this long. */
const KEEP_RESOLVED_MS = 90 * 86_400_000;
/**
 * Transitions an alert's answer shows: its first and the newest the rest. A reminder adds one
 * each time, so an alert left firing for a year would otherwise answer thousands.
 */
export const HISTORY_SHOWN = 1000;

/** Reading the ledger, on the ledger's own connection or on a view's read-only one. */
class LedgerReader {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  /** Prepared once per text: the engine runs the same few statements for every batch. */
  protected sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  meta(name: string): string | undefined {
    return (this.sql('SELECT value FROM meta WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  alert(id: number): Alert | undefined {
    const row = this.sql('SELECT doc FROM alerts WHERE id = ?').get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Alert) : undefined;
  }

  liveAlerts(): Alert[] {
    return this.docs<Alert>("SELECT doc FROM alerts WHERE state != 'resolved' ORDER BY id");
  }

  /** Newest first. */
  alerts(filter: AlertFilter): Alert[] {
    let sql = 'SELECT doc FROM alerts WHERE 1 = 1';
    const params: Record<string, unknown> = { limit: filter.limit ?? 1000 };
    for (const field of ['state', 'zone', 'severity'] as const) {
      if (filter[field] === undefined) continue;
      sql += ` AND ${field} = @${field}`;
      params[field] = filter[field];
    }
    return this.docs<Alert>(`${sql} ORDER BY id DESC LIMIT @limit`, params);
  }

  /** An alert's transitions, oldest first: at most `shown`, its first and the newest others. */
  events(alertId: number, shown = HISTORY_SHOWN): AlertEvent[] {
    // Two reads of the (alert_id, seq) index, each stopping at its limit (UNION drops the first
    // when it is among the newest), and the documents of those alone.
    return this.docs<AlertEvent>(
      `SELECT doc FROM alert_events WHERE seq IN (
         SELECT seq FROM (SELECT seq FROM alert_events WHERE alert_id = @alertId ORDER BY seq LIMIT 1)
         UNION
         SELECT seq FROM (SELECT seq FROM alert_events WHERE alert_id = @alertId ORDER BY seq DESC LIMIT @newest)
       ) ORDER BY seq`,
      { alertId, newest: Math.max(0, shown - 1) },
    );
  }

  /** How many transitions an alert has, counted along the (alert_id, seq) index. */
  eventCount(alertId: number): number {
    return (this.sql('SELECT count(*) AS n FROM alert_events WHERE alert_id = ?').get(alertId) as { n: number }).n;
  }

  keys(): Map<string, KeyState> {
    const rows = this.sql('SELECT key, doc FROM keys').all() as { key: string; doc: string }[];
    return new Map(rows.map((r) => [r.key, JSON.parse(r.doc) as KeyState]));
  }

  silences(): Silence[] {
    return this.docs<Silence>('SELECT doc FROM silences ORDER BY id');
  }

  /** The engine's evaluation state of every device, as it saved it. */
  devices(): Map<string, unknown> {
    const rows = this.sql('SELECT id, doc FROM devices').all() as { id: string; doc: string }[];
    return new Map(rows.map((r) => [r.id, JSON.parse(r.doc) as unknown]));
  }

  private docs<T>(sql: string, params: Record<string, unknown> = {}): T[] {
    return (this.sql(sql).all(params) as { doc: string }[]).map((r) => JSON.parse(r.doc) as T);
  }
}

export class AlertLedger extends LedgerReader {
  /** The read-only connections of the views handed out, closed with the ledger. */
  private readonly views: Database.Database[] = [];

  constructor(private readonly path: string) {
    super(new Database(path));
    this.db.pragma('journal_mode = WAL');
    // NORMAL: a commit reaches the WAL but is fsync'd only by `sync` (or a checkpoint), which the
    // engine calls before anything is announced and within a second of any other save (its journal position follows).
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
  }

  /**
   * A read-only view of what is committed, for the API; `now` tells which silences are in force.
   * Its connection is its own, opened read-only, and reachable only inside the view's functions.
   */
  view(now: () => number): AlertView {
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    this.views.push(db);
    const reader = new LedgerReader(db);
    return Object.freeze({
      alerts: (filter: AlertFilter) => reader.alerts(filter),
      alert: (id: number) => reader.alert(id),
      history: (id: number) => ({ shown: reader.events(id), total: reader.eventCount(id) }),
      silences: () => {
        const at = now();
        return reader.silences().filter((s) => s.endsAt > at);
      },
      silencedNow: () => {
        const at = now();
        const inForceNow = reader.silences().filter((s) => inForce(s, at));
        return (a: Alert) => inForceNow.filter((s) => matches(s.matchers, a)).map((s) => s.id);
      },
    });
  }

  /** Made once: better-sqlite3 builds a wrapper per `transaction()` call, and this runs per batch. */
  private readonly inTransaction = this.db.transaction((fn: () => unknown) => fn());

  transaction<T>(fn: () => T): T {
    return this.inTransaction(fn) as T;
  }

  /** Rows written since the database was opened: tells a transaction that wrote nothing. */
  changes(): number {
    return (this.sql('SELECT total_changes() AS n').get() as { n: number }).n;
  }

  /**
   * Makes every commit so far durable. In WAL mode a commit at synchronous = FULL fsyncs the WAL,
   * and with it every commit before it: one small write and one fsync, where a checkpoint would
   * also copy pages into the database and fsync that too.
   */
  sync(): void {
    this.db.pragma('synchronous = FULL');
    try {
      this.setMeta('synced_at', String(Date.now()));
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  setMeta(name: string, value: string): void {
    this.sql(
      'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    ).run(name, value);
  }

  /** The next id of a kind ('alert', 'silence'): never reused, also after deletes. */
  nextId(kind: string): number {
    const id = Number(this.meta(`next_${kind}`) ?? '1');
    this.setMeta(`next_${kind}`, String(id + 1));
    return id;
  }

  saveAlert(a: Alert): void {
    this.sql(
      `INSERT INTO alerts (id, key, state, zone, severity, updated_at, doc) VALUES (@id, @key, @state, @zone, @severity, @updatedAt, @doc)
       ON CONFLICT (id) DO UPDATE SET state = excluded.state, zone = excluded.zone, severity = excluded.severity, updated_at = excluded.updated_at, doc = excluded.doc`,
    ).run({
      id: a.id,
      key: a.key,
      state: a.state,
      zone: a.zone,
      severity: a.severity,
      updatedAt: a.updatedAt,
      doc: JSON.stringify(a),
    });
  }

  deleteAlert(id: number): void {
    this.sql('DELETE FROM alerts WHERE id = ?').run(id);
    this.sql('DELETE FROM alert_events WHERE alert_id = ?').run(id);
  }

  addEvent(e: AlertEvent): void {
    this.sql('INSERT INTO alert_events (alert_id, kind, at, doc) VALUES (?, ?, ?, ?)').run(
      e.alertId,
      e.kind,
      e.at,
      JSON.stringify(e),
    );
  }

  deleteKey(key: string): void {
    this.sql('DELETE FROM keys WHERE key = ?').run(key);
  }

  saveKey(key: string, state: KeyState): void {
    this.sql('INSERT INTO keys (key, doc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc').run(
      key,
      JSON.stringify(state),
    );
  }

  saveSilence(s: Silence): void {
    this.sql(
      'INSERT INTO silences (id, ends_at, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET ends_at = excluded.ends_at, doc = excluded.doc',
    ).run(s.id, s.endsAt, JSON.stringify(s));
  }

  deleteSilence(id: number): boolean {
    return this.sql('DELETE FROM silences WHERE id = ?').run(id).changes > 0;
  }

  saveDevice(id: string, doc: unknown): void {
    this.sql('INSERT INTO devices (id, doc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc').run(
      id,
      JSON.stringify(doc),
    );
  }

  deleteDevice(id: string): void {
    this.sql('DELETE FROM devices WHERE id = ?').run(id);
  }

  /** Drops resolved alerts, their history and expired silences past retention; returns the alerts dropped. */
  prune(now: number): number[] {
    const cutoff = now - KEEP_RESOLVED_MS;
    const dropped = this.sql("SELECT id FROM alerts WHERE state = 'resolved' AND updated_at < ?")
      .pluck()
      .all(cutoff) as number[];
    this.sql(
      "DELETE FROM alert_events WHERE alert_id IN (SELECT id FROM alerts WHERE state = 'resolved' AND updated_at < ?)",
    ).run(cutoff);
    this.sql("DELETE FROM alerts WHERE state = 'resolved' AND updated_at < ?").run(cutoff);
    this.sql('DELETE FROM silences WHERE ends_at < ?').run(cutoff);
    return dropped;
  }

  close(): void {
    for (const view of this.views) if (view.open) view.close();
    if (this.db.open) this.db.close();
  }
}
