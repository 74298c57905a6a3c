// The outbox's tables in the alert state's database: the rows waiting for each target, the groups
// last sent, and which targets follow each alert. Created at start; older layouts are brought up
// to date in place.
import type Database from 'better-sqlite3';

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
