// The rules' state, shared through Redis. The rules leader keeps it in a SQLite ledger of its own,
// as a hub alone does (rules/ledger.ts, notify/outbox.ts), and every row it commits is copied to
// Redis by a write that names its term (lease.ts), so a deposed leader's late copy is refused. Each
// copy is numbered and announced; the other hubs apply it to the same ledger, a replica their API
// reads. A new leader starts from what Redis holds.
//
// Changed rows are found by temporary triggers on the leader's connection, so neither the ledger
// nor the outbox needs to know it is mirrored. A copy sends each changed row as it is when the copy
// is made (or its absence), so a copy that failed is simply made again with the next.
import type Database from 'better-sqlite3';
import { FailureRun } from '../domain/backoff.ts';
import { jsonObject } from '../domain/json-text.ts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { FENCE_CHECK, FENCE_KEY } from './lease.ts';
import { counted } from '../domain/counted.ts';

/** One changed row: its table, its rowid, and its columns, or null once deleted. */
type RowChange = [table: string, rowid: number, row: Record<string, unknown> | null];

interface ChangeSet {
  version: number;
  rows: RowChange[];
  /** AUTOINCREMENT counters, so ids (delivery ids among them) are never handed out twice. */
  sequences: Record<string, number>;
}

const VERSION_KEY = 'rules:state:version';
const SEQUENCES_KEY = 'rules:state:sequences';
const CHANGED = 'temp.mirror_changed';

/** One hash per table: field = rowid, value = the row's JSON. */
function tableKey(table: string): string {
  return `rules:state:table:${table}`;
}

// KEYS: term, version, sequences, then one hash per table in ARGV[3]'s order.
// ARGV: token, the change set's JSON (for the announcement), the channel, then triples
// (table index, rowid, row JSON or '' for deleted) and the sequences as pairs after a '--'.
const COPY = `${FENCE_CHECK}
local version = redis.call('INCR', KEYS[2])
local i = 4
while ARGV[i] ~= '--' do
  local key = KEYS[4 + tonumber(ARGV[i])]
  if ARGV[i + 2] == '' then redis.call('HDEL', key, ARGV[i + 1]) else redis.call('HSET', key, ARGV[i + 1], ARGV[i + 2]) end
  i = i + 3
end
i = i + 1
while ARGV[i] do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('PUBLISH', ARGV[3], version .. ' ' .. ARGV[2])
return version`;

/** A load that failed is tried again after 1 s, doubling to 30 s. */
const LOAD_RETRY = { firstMs: 1000, maxMs: 30_000 };

export interface StateMirrorOptions {
  db: Database.Database;
  /** Commands, keys under the cluster's prefix. */
  redis: Redis;
  /** The channel copies are announced on (channels are not prefixed by Redis: give the full name). */
  channel: string;
  /** Told of each row a replica takes from an announced copy (not of deletions, nor of whole loads). */
  onRow?: (table: string, row: Record<string, unknown>) => void;
  /** Where a load says it left out rows that are not ones. */
  log?: Logger;
  /** When a load that failed is due again (loadDue). */
  now?: () => number;
}

/** What the mirror learnt from Redis, for the hub's log and health. */
export interface MirrorLoad {
  version: number;
  rows: number;
  /** Rows left out: not JSON objects, or with values no column takes (damaged, or another release's). */
  damaged: number;
}

export class StateMirror {
  private readonly tables: string[];
  private readonly columns = new Map<string, Set<string>>();
  /** Whether a table counts its ids (AUTOINCREMENT): SQLite then keeps sqlite_sequence. */
  private readonly sequenced: boolean;
  private readonly statements = new Map<string, Database.Statement>();
  private copying: Promise<unknown> = Promise.resolve();
  private token: number | undefined;
  private beforeCopy: (() => void) | undefined;
  /** The version of the state this ledger holds. */
  private version = 0;
  /** Loads that failed in a row, and when to try again. */
  private readonly loads: FailureRun;

  constructor(private readonly options: StateMirrorOptions) {
    const { db } = options;
    this.loads = new FailureRun(LOAD_RETRY, options.now ?? Date.now);
    this.tables = (
      db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all() as { name: string }[]
    ).map((t) => t.name);
    for (const table of this.tables) {
      const columns = db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[];
      this.columns.set(table, new Set(columns.map((c) => c.name)));
    }
    this.sequenced = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").get() !== undefined;
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS mirror_changed (tbl TEXT NOT NULL, rid INTEGER NOT NULL)`);
  }

  /** The version of the state the ledger now holds. */
  get held(): number {
    return this.version;
  }

  /** Why the last load of the state failed; undefined once one has not. */
  get unreadable(): string | undefined {
    return this.loads.problem;
  }

  /** Whether the last load failed and it is time to try again: 1 s after, doubling to 30 s. */
  loadDue(): boolean {
    return this.loads.due();
  }

  /** Replaces the ledger's contents with what Redis holds, in one transaction. */
  async load(): Promise<MirrorLoad> {
    try {
      const loaded = await this.loadAll();
      this.loads.succeeded();
      return loaded;
    } catch (err) {
      this.loads.failed((err as Error).message);
      throw err;
    }
  }

  private async loadAll(): Promise<MirrorLoad> {
    const { redis, db } = this.options;
    const multi = redis.multi().get(VERSION_KEY).hgetall(SEQUENCES_KEY);
    for (const table of this.tables) multi.hgetall(tableKey(table));
    const answers = (await multi.exec()) ?? [];
    for (const [err] of answers) if (err) throw err;
    const [version, sequences, ...tables] = answers.map(([, value]) => value);
    let rows = 0;
    const damaged: string[] = [];
    db.transaction(() => {
      for (const [i, table] of this.tables.entries()) {
        this.sql(`DELETE FROM main."${table}"`).run();
        for (const [rowid, json] of Object.entries(tables[i] as Record<string, string>)) {
          // One row that is not one must not keep every term from starting: it is left out.
          const row = jsonObject(json);
          try {
            if (row === undefined || !Number.isSafeInteger(Number(rowid))) throw new Error('not a row');
            this.write(table, Number(rowid), row);
            rows += 1;
          } catch {
            damaged.push(`${table} ${rowid.slice(0, 20)}`);
          }
        }
      }
      this.setSequences(sequences as Record<string, string>);
      this.sql(`DELETE FROM ${CHANGED}`).run();
    })();
    this.version = Number(version ?? 0);
    if (damaged.length > 0)
      this.options.log?.error(
        { damaged: damaged.slice(0, 20) },
        `the rules' state in Redis holds ${counted(damaged.length, 'row that is not one', 'rows that are not ones')}; loaded without them`,
      );
    return { version: this.version, rows, damaged: damaged.length };
  }

  /**
   * Applies a copy announced on the channel. False when one was missed (or this is not the next),
   * or it cannot be applied (damaged: nothing of it is): the caller loads the whole state again.
   * Never throws: it runs in the Redis client's message handler.
   */
  apply(message: string): boolean {
    const space = message.indexOf(' ');
    const version = Number(message.slice(0, space));
    if (version <= this.version) return true;
    if (version !== this.version + 1) return false;
    const set = jsonObject(message.slice(space + 1)) as Partial<Omit<ChangeSet, 'version'>> | undefined;
    const sequences = set?.sequences as unknown;
    if (!Array.isArray(set?.rows) || !areCounters(sequences)) return false;
    const { rows } = set;
    try {
      this.options.db.transaction(() => {
        for (const [table, rowid, row] of rows) {
          if (!this.columns.has(table)) continue;
          if (row === null) this.sql(`DELETE FROM main."${table}" WHERE rowid = ?`).run(rowid);
          else this.write(table, rowid, row);
        }
        this.setSequences(sequences);
      })();
    } catch {
      return false;
    }
    this.version = version;
    for (const [table, , row] of rows)
      if (row !== null && this.columns.has(table))
        try {
          this.options.onRow?.(table, row);
        } catch {
          // The listener checks what it reads of a row; should it fail all the same, the row is in the replica.
        }
    return true;
  }

  /**
   * From now on, every committed change is copied to Redis for the term `token`; `beforeCopy`
   * runs just before each copy is made, to write what must travel with it.
   */
  lead(token: number, beforeCopy?: () => void): void {
    this.token = token;
    this.beforeCopy = beforeCopy;
    const { db } = this.options;
    for (const table of this.tables) {
      const name = (op: string) => `"mirror_${table}_${op}"`;
      db.exec(`
        CREATE TEMP TRIGGER IF NOT EXISTS ${name('insert')} AFTER INSERT ON main."${table}"
        BEGIN INSERT INTO ${CHANGED} VALUES ('${table}', NEW.rowid); END;
        CREATE TEMP TRIGGER IF NOT EXISTS ${name('update')} AFTER UPDATE ON main."${table}"
        BEGIN INSERT INTO ${CHANGED} VALUES ('${table}', NEW.rowid);
          INSERT INTO ${CHANGED} SELECT '${table}', OLD.rowid WHERE OLD.rowid != NEW.rowid; END;
        CREATE TEMP TRIGGER IF NOT EXISTS ${name('delete')} AFTER DELETE ON main."${table}"
        BEGIN INSERT INTO ${CHANGED} VALUES ('${table}', OLD.rowid); END;`);
    }
  }

  /** Stops copying: the ledger becomes a replica again. */
  follow(): void {
    this.token = undefined;
    this.beforeCopy = undefined;
    const { db } = this.options;
    for (const table of this.tables)
      for (const op of ['insert', 'update', 'delete']) db.exec(`DROP TRIGGER IF EXISTS temp."mirror_${table}_${op}"`);
    this.sql(`DELETE FROM ${CHANGED}`).run();
  }

  /**
   * Resolves once every change committed so far is in Redis; rejects when it cannot be (Redis
   * unreachable, or a later term has begun: "fenced"). Copies go one at a time, in order; the
   * rows of a failed copy go again with the next.
   */
  settled(): Promise<void> {
    const copy = this.copying.catch(() => undefined).then(() => this.copy());
    this.copying = copy;
    return copy;
  }

  private async copy(): Promise<void> {
    const { db, redis, channel } = this.options;
    const token = this.token;
    if (token === undefined) throw new Error('this hub does not lead the rules: its changes are not copied');
    this.beforeCopy?.();
    const changed = this.sql(`SELECT DISTINCT tbl, rid FROM ${CHANGED}`).all() as { tbl: string; rid: number }[];
    if (changed.length === 0) return;
    this.sql(`DELETE FROM ${CHANGED}`).run();
    const rows: RowChange[] = changed.map(({ tbl, rid }) => [
      tbl,
      rid,
      (this.sql(`SELECT * FROM main."${tbl}" WHERE rowid = ?`).get(rid) as Record<string, unknown> | undefined) ?? null,
    ]);
    const counters = this.sequenced ? this.sql('SELECT name, seq FROM sqlite_sequence').all() : [];
    const sequences = Object.fromEntries((counters as { name: string; seq: number }[]).map((c) => [c.name, c.seq]));
    const args: (string | number)[] = [token, JSON.stringify({ rows, sequences }), channel];
    for (const [table, rowid, row] of rows)
      args.push(this.tables.indexOf(table), rowid, row ? JSON.stringify(row) : '');
    args.push('--');
    for (const [name, seq] of Object.entries(sequences)) args.push(name, seq);
    const keys = [FENCE_KEY, VERSION_KEY, SEQUENCES_KEY, ...this.tables.map(tableKey)];
    try {
      this.version = Number(await redis.eval(COPY, keys.length, ...keys, ...args));
    } catch (err) {
      // Not in Redis: the rows go with the next copy, as they are then.
      const again = this.sql(`INSERT INTO ${CHANGED} VALUES (?, ?)`);
      db.transaction(() => {
        for (const { tbl, rid } of changed) again.run(tbl, rid);
      })();
      throw err;
    }
  }

  /** Prepared once per text: a copy runs the same few statements for every row. */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.options.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** Writes a row from Redis, by the columns this ledger has (a row naming others is not ours to trust). */
  private write(table: string, rowid: number, row: Record<string, unknown>): void {
    const known = this.columns.get(table);
    if (!known) return;
    const names = Object.keys(row).filter((c) => known.has(c));
    const columns = ['rowid', ...names.map((c) => `"${c}"`)].join(', ');
    const values = names.map((c) => `@${c}`).join(', ');
    this.sql(`INSERT OR REPLACE INTO main."${table}" (${columns}) VALUES (@rowid${values ? `, ${values}` : ''})`).run({
      ...Object.fromEntries(names.map((c) => [c, row[c]])),
      rowid,
    });
  }

  private setSequences(sequences: Record<string, string | number>): void {
    if (!this.sequenced) return;
    this.sql('DELETE FROM sqlite_sequence').run();
    const insert = this.sql('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)');
    for (const [name, seq] of Object.entries(sequences))
      if (this.columns.has(name) && isCounter(seq)) insert.run(name, Number(seq));
  }
}

/** Whether a copy's `sequences` are counters: a damaged one would hand out ids again. */
function areCounters(value: unknown): value is ChangeSet['sequences'] {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every(isCounter);
}

function isCounter(value: unknown): boolean {
  return Number.isSafeInteger(Number(value)) && Number(value) >= 0;
}
