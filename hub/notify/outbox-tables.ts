// The outbox's tables in the alert state's database: the rows waiting for each target, the groups
// last sent, and which targets follow each alert. Created at start; older layouts are brought up
// to date in place. Also the queries of when a group's rows are due.
import type Database from 'better-sqlite3';
import type { OutboxGroup, OutboxRow } from './outbox.ts';

/** A target that was told of an alert, and the group its notices go in. */
export interface Follower {
  target: string;
  group: OutboxGroup;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL,
  grp TEXT, due_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_target ON outbox (target, id);
CREATE TABLE IF NOT EXISTS outbox_groups (
  target TEXT NOT NULL, grp TEXT NOT NULL, sent_at INTEGER NOT NULL, PRIMARY KEY (target, grp)
);
CREATE TABLE IF NOT EXISTS outbox_followers (
  alert_id INTEGER NOT NULL, target TEXT NOT NULL, grp TEXT NOT NULL, wait_ms INTEGER NOT NULL,
  interval_ms INTEGER NOT NULL, PRIMARY KEY (alert_id, target)
);
`;

export function ensureSchema(db: Database.Database): void {
  db.exec(SCHEMA);
  // An outbox from before groups: the rows it holds are due at once.
  const columns = new Set((db.prepare('PRAGMA table_info(outbox)').all() as { name: string }[]).map((c) => c.name));
  if (!columns.has('grp')) db.exec('ALTER TABLE outbox ADD COLUMN grp TEXT');
  if (!columns.has('due_at')) db.exec('ALTER TABLE outbox ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0');
  // A group's rows found without reading every row a receiver that is away has waiting.
  db.exec('CREATE INDEX IF NOT EXISTS outbox_group ON outbox (target, grp, due_at)');
}

/** A group last sent longer ago than this is forgotten: its next alert is a new group. */
const GROUP_MEMORY_MS = 7 * 86_400_000;

/**
 * When a new row of `group` goes out: with the group's rows waiting after `sendingUpTo` (those up
 * to it are being handed over), or once its wait, and the interval since it last went, are over.
 */
export function groupDueAt(
  db: Database.Database,
  target: string,
  group: OutboxGroup,
  sendingUpTo: number,
  now: number,
): number {
  const waiting = db
    .prepare('SELECT min(due_at) AS at FROM outbox WHERE target = ? AND grp = ? AND id > ?')
    .get(target, group.key, sendingUpTo) as { at: number | null };
  if (waiting.at !== null) return waiting.at;
  const sent = db
    .prepare('SELECT sent_at AS at FROM outbox_groups WHERE target = ? AND grp = ?')
    .get(target, group.key) as { at: number } | undefined;
  const told = sendingUpTo > 0 ? now : sent?.at;
  return Math.max(now + group.waitMs, told === undefined ? 0 : told + group.intervalMs);
}

/** The group went out now: what joins it waits its interval. */
export function groupSent(db: Database.Database, target: string, grp: string, now: number): void {
  db.prepare(
    'INSERT INTO outbox_groups (target, grp, sent_at) VALUES (?, ?, ?) ON CONFLICT (target, grp) DO UPDATE SET sent_at = excluded.sent_at',
  ).run(target, grp, now);
  db.prepare('DELETE FROM outbox_groups WHERE target = ? AND sent_at < ?').run(target, now - GROUP_MEMORY_MS);
}

/** A target's rows due first: the oldest due row, and those due with it (its group's, or others in no group). */
export function dueRows(db: Database.Database, target: string, now: number, limit: number): OutboxRow[] {
  const columns = 'id, payload, created_at AS createdAt, grp';
  const first = db
    .prepare('SELECT grp FROM outbox WHERE target = ? AND due_at <= ? ORDER BY id LIMIT 1')
    .get(target, now) as { grp: string | null } | undefined;
  if (!first) return [];
  return (
    first.grp === null
      ? db
          .prepare(`SELECT ${columns} FROM outbox WHERE target = ? AND grp IS NULL AND due_at <= ? ORDER BY id LIMIT ?`)
          .all(target, now, limit)
      : db
          .prepare(`SELECT ${columns} FROM outbox WHERE target = ? AND grp = ? AND due_at <= ? ORDER BY id LIMIT ?`)
          .all(target, first.grp, now, limit)
  ) as OutboxRow[];
}

/** Deletes rows a target took or refused (those the bound dropped meanwhile are gone already). */
export function removeRows(db: Database.Database, ids: readonly number[]): void {
  db.prepare('DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(ids));
}

/** When a target's next row is due, if it has any. */
export function nextDueAt(db: Database.Database, target: string): number | null {
  return (db.prepare('SELECT min(due_at) AS at FROM outbox WHERE target = ?').get(target) as { at: number | null }).at;
}

/** The targets told of an alert so far, each with its group. */
export function followersOf(db: Database.Database, alertId: number): Follower[] {
  return (
    db.prepare('SELECT target, grp, wait_ms, interval_ms FROM outbox_followers WHERE alert_id = ?').all(alertId) as {
      target: string;
      grp: string;
      wait_ms: number;
      interval_ms: number;
    }[]
  ).map((r) => ({ target: r.target, group: { key: r.grp, waitMs: r.wait_ms, intervalMs: r.interval_ms } }));
}

export function addFollower(db: Database.Database, alertId: number, f: Follower): void {
  db.prepare(
    'INSERT OR IGNORE INTO outbox_followers (alert_id, target, grp, wait_ms, interval_ms) VALUES (?, ?, ?, ?, ?)',
  ).run(alertId, f.target, f.group.key, f.group.waitMs, f.group.intervalMs);
}

/**
 * From now on, the rows waiting per target are counted by triggers on this connection, in a table
 * of its own: in the transaction that queues or removes the rows, so a rollback undoes the count
 * with them, and a temporary one, so it is never copied to another hub with the alert state (the
 * cluster copies the main tables). Counted afresh from the rows at each call: while no outbox ran
 * on this connection (a cluster's replica), copies applied to it may have moved rows uncounted.
 */
export function countWaitingFromNowOn(db: Database.Database): void {
  db.exec(`
    CREATE TEMP TABLE IF NOT EXISTS outbox_waiting (target TEXT PRIMARY KEY, n INTEGER NOT NULL);
    CREATE TEMP TRIGGER IF NOT EXISTS outbox_waiting_insert AFTER INSERT ON main.outbox BEGIN
      INSERT INTO outbox_waiting (target, n) VALUES (NEW.target, 1) ON CONFLICT (target) DO UPDATE SET n = n + 1;
    END;
    CREATE TEMP TRIGGER IF NOT EXISTS outbox_waiting_delete AFTER DELETE ON main.outbox BEGIN
      UPDATE outbox_waiting SET n = n - 1 WHERE target = OLD.target;
    END;`);
  db.transaction(() => {
    db.prepare('DELETE FROM temp.outbox_waiting').run();
    db.prepare(
      'INSERT INTO temp.outbox_waiting (target, n) SELECT target, count(*) FROM main.outbox GROUP BY target',
    ).run();
  })();
}

/** The count's look-ups, prepared once per connection: one runs for every notification queued. */
const countStatements = new WeakMap<Database.Database, { all: Database.Statement; one: Database.Statement }>();

/** Rows waiting for a target, or for all, as counted since countWaitingFromNowOn. */
export function countWaiting(db: Database.Database, target?: string): number {
  let statements = countStatements.get(db);
  if (!statements) {
    statements = {
      all: db.prepare('SELECT coalesce(sum(n), 0) FROM temp.outbox_waiting').pluck(),
      one: db.prepare('SELECT n FROM temp.outbox_waiting WHERE target = ?').pluck(),
    };
    countStatements.set(db, statements);
  }
  return (target === undefined ? statements.all.get() : (statements.one.get(target) ?? 0)) as number;
}

/** Every target the tables keep rows or followers for, with how many rows wait for it (as counted since countWaitingFromNowOn). */
export function targetsKept(db: Database.Database): { target: string; n: number }[] {
  return db
    .prepare('SELECT target, n FROM temp.outbox_waiting WHERE n > 0 UNION SELECT target, 0 FROM outbox_followers')
    .all() as { target: string; n: number }[];
}

/** Everything kept for a target no longer configured. */
export function dropTarget(db: Database.Database, target: string): void {
  for (const table of ['outbox', 'outbox_groups', 'outbox_followers'])
    db.prepare(`DELETE FROM ${table} WHERE target = ?`).run(target);
}
