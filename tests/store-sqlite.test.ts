import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { touchedMinutes } from '../hub/store/minutes.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import { RESTART_AFTER_MS, SqliteThreads } from '../hub/store/sqlite-threads.ts';
import { StoreBusy, StoreRefusal, StoreUnavailable } from '../hub/store/store.ts';
import { describeStoreContract } from './store-contract.ts';
import { describeMinutesContract } from './store-minutes-contract.ts';

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floorwatch-sqlite-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const newPath = (): string => join(dir, `store-${++n}.db`);

describeStoreContract('SqliteStore (file)', async () => new SqliteStore({ path: newPath() }));
describeStoreContract(
  'SqliteStore (file, reads and writes in threads of their own, as the hub runs it)',
  async () => new SqliteStore({ path: newPath(), readThreads: true, writeThread: true }),
);
describeStoreContract('SqliteStore (:memory:)', async () => new SqliteStore({ path: ':memory:' }));
for (const threads of [false, true])
  describeMinutesContract(threads ? 'SqliteStore (reads and writes in threads of their own)' : 'SqliteStore', () => {
    const path = newPath();
    return {
      open: async ({ now, rawRetentionMs }) =>
        new SqliteStore({ path, now, rawRetentionMs, readThreads: threads, writeThread: threads }),
      rawOnly: async (r) => {
        const db = new Database(path);
        db.prepare('INSERT INTO readings (device, metric, ts, zone, value) VALUES (?, ?, ?, ?, ?)').run(
          r.device,
          r.metric,
          r.ts,
          r.zone,
          r.value,
        );
        db.close();
      },
      expireRaw: async (store, now) => {
        await store.prune?.(now);
      },
      dispose: () => rm(path, { force: true }),
    };
  });

describe('SqliteStore', () => {
  const HOUR = 3_600_000;
  const now = Date.UTC(2026, 0, 31, 12);

  it('says the store is unavailable when its read thread cannot read, starts another 5 s on, none once closed', async () => {
    const absent = join(dir, 'absent');
    const reads = new SqliteThreads({
      path: join(absent, 'store.db'),
      rawRetentionMs: HOUR,
      longTermRetentionMs: HOUR,
      role: 'reader',
    });
    const q = { from: 0, to: now };
    for (let attempt = 0; attempt < 2; attempt++) {
      const failed = await reads.ask('count', q, now).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(StoreUnavailable);
      expect((failed as Error).message).toMatch(
        /^the SQLite reader stopped: Cannot open database because the directory does not exist/,
      );
    }
    // The file is there now: a thread is started again only once RESTART_AFTER_MS have passed.
    mkdirSync(absent);
    const store = new SqliteStore({ path: join(absent, 'store.db') });
    await store.init();
    await store.write([{ device: 'd1', metric: 'noise', ts: now - 1000, value: 40, zone: 'z1' }]);
    await expect(reads.ask('count', q, now + RESTART_AFTER_MS - 1)).rejects.toThrow(/started again within 5 s$/);
    expect(await reads.ask('count', q, now + RESTART_AFTER_MS)).toBe(1);
    await store.close();
    await reads.close();
    await expect(reads.ask('count', q, now)).rejects.toThrow(new StoreUnavailable('the store is closed'));
  });

  it('refuses a read at once while its bound of reads wait for the thread, tells of each, and takes reads again once they are answered', async () => {
    const store = new SqliteStore({ path: join(dir, 'waiting.db') });
    await store.init();
    await store.write([{ device: 'd1', metric: 'noise', ts: now - 1000, value: 40, zone: 'z1' }]);
    const MAX_WAITING = 5;
    const told: number[] = [];
    const reads = new SqliteThreads(
      { path: join(dir, 'waiting.db'), rawRetentionMs: HOUR, longTermRetentionMs: HOUR, role: 'reader' },
      { maxWaiting: MAX_WAITING, onBusy: (max) => told.push(max) },
    );
    const q = { from: 0, to: now };
    // Asked in one turn, before the thread can answer any.
    const asked = Array.from({ length: MAX_WAITING + 3 }, () =>
      reads.ask('count', q, now).catch((err: unknown) => err),
    );
    const answers = await Promise.all(asked);
    expect(answers.slice(0, MAX_WAITING)).toEqual(Array(MAX_WAITING).fill(1));
    for (const refused of answers.slice(MAX_WAITING)) {
      expect(refused).toBeInstanceOf(StoreUnavailable);
      // Busy, not down: the API says so, and nothing about the journal (see api-store-outage).
      expect(refused).toBeInstanceOf(StoreBusy);
      expect((refused as Error).message).toBe(
        `${MAX_WAITING} reads already wait for the SQLite readers (storage.max_waiting_reads); try again shortly`,
      );
    }
    expect(told).toEqual([MAX_WAITING, MAX_WAITING, MAX_WAITING]);
    expect(await reads.ask('count', q, now)).toBe(1);
    await reads.close();
    await store.close();
  });

  /** A zone's noise, 50 devices × 2,000 readings 30 s apart up to `now`: a chart of it takes a while to read. */
  const zoneNoise = () =>
    Array.from({ length: 50 }, (_, d) =>
      Array.from({ length: 2000 }, (_, i) => ({
        device: `d${d}`,
        metric: 'noise',
        ts: now - i * 30_000,
        value: 40 + (i % 9),
        zone: 'z1',
      })),
    ).flat();
  const zoneChart = { zone: 'z1', metric: 'noise', from: now - 20 * HOUR, to: now, agg: 'mean' as const, every: HOUR };

  /** What `work` gave, and the turns the event loop took while it ran. */
  const turnsDuring = async <T>(work: () => Promise<T>) => {
    let turns = 0;
    let working = true;
    const turn = () => {
      if (!working) return;
      turns++;
      setImmediate(turn);
    };
    setImmediate(turn);
    const result = await work();
    working = false;
    return { turns, result };
  };

  it('answers reads in a thread of its own: the hub’s thread turns while a long read runs', async () => {
    const path = newPath();
    const writer = new SqliteStore({ path, now: () => now, readThreads: true });
    await writer.init();
    await writer.write(zoneNoise());
    const inProcess = new SqliteStore({ path, now: () => now });
    const threaded = await turnsDuring(() => writer.query(zoneChart));
    const held = await turnsDuring(() => inProcess.query(zoneChart));
    expect(threaded.result).toEqual(held.result);
    expect(threaded.result).toHaveLength(17);
    expect(held.turns).toBe(0);
    expect(threaded.turns).toBeGreaterThan(0);
    await inProcess.close();
    await writer.close();
  });

  it('writes, rolls up and prunes in a thread of its own: the hub’s thread turns meanwhile', async () => {
    const threaded = new SqliteStore({ path: newPath(), now: () => now, writeThread: true });
    const inProcess = new SqliteStore({ path: newPath(), now: () => now });
    const readings = zoneNoise();
    const touched = touchedMinutes(readings);
    for (const store of [threaded, inProcess]) await store.init();
    const turns = async (store: SqliteStore) => [
      (await turnsDuring(() => store.write(readings))).turns,
      (await turnsDuring(() => store.rollUp(touched))).turns,
      (await turnsDuring(() => store.prune(now + 30 * 24 * HOUR - HOUR))).turns,
    ];
    const [written, rolledUp, pruned] = await turns(threaded);
    expect(written).toBeGreaterThan(0);
    expect(rolledUp).toBeGreaterThan(0);
    expect(pruned).toBeGreaterThan(0);
    // In the hub's thread a write holds it; a roll-up yields only between its slices.
    expect((await turns(inProcess))[0]).toBe(0);
    const everything = { from: 0, to: now + 1 };
    expect(await threaded.count(everything)).toBe(await inProcess.count(everything));
    expect(await threaded.queryMinutes({ zone: 'z1', metric: 'noise', ...everything })).toEqual(
      await inProcess.queryMinutes({ zone: 'z1', metric: 'noise', ...everything }),
    );
    await threaded.close();
    await inProcess.close();
  });

  it('waits for a lock another process holds in its thread: the hub’s thread turns meanwhile and the write lands once it is let go', async () => {
    const path = newPath();
    const store = new SqliteStore({ path, now: () => now, writeThread: true });
    await store.init();
    // Another program (a backup, a hand-run query) holding the file for a while.
    const other = new Database(path);
    other.exec('BEGIN EXCLUSIVE');
    let turns = 0;
    const written = store.write([{ device: 'd1', metric: 'noise', ts: now, value: 40, zone: 'z1' }]);
    await new Promise<void>((resolve) => {
      const turn = () => (++turns === 50 ? resolve() : setImmediate(turn));
      setImmediate(turn);
    });
    other.exec('COMMIT');
    other.close();
    await written;
    expect(await store.count({ from: 0, to: now + 1 })).toBe(1);
    await store.close();
  });

  it('says the store is unavailable when its writer cannot open the file, and refuses bad readings as the hub’s thread does', async () => {
    const absent = join(dir, 'gone', 'store.db');
    mkdirSync(join(dir, 'gone'));
    const store = new SqliteStore({ path: absent, now: () => now, writeThread: true });
    await store.init();
    rmSync(join(dir, 'gone'), { recursive: true });
    const failed = await store
      .write([{ device: 'd1', metric: 'noise', ts: now, value: 40, zone: 'z1' }])
      .catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(StoreUnavailable);
    expect((failed as Error).message).toMatch(/^the SQLite writer stopped: /);
    await store.close();
    const fine = new SqliteStore({ path: newPath(), now: () => now, writeThread: true });
    await fine.init();
    const refused = await fine
      .write([{ device: 'd1', metric: 'noise', ts: now, value: Number.NaN, zone: 'z1' }])
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreRefusal);
    await fine.close();
  });

  it('answers short reads while a long one runs on another thread, where one thread answers them after', async () => {
    const path = newPath();
    const writer = new SqliteStore({ path, now: () => now });
    await writer.init();
    await writer.write(zoneNoise());
    const short = { from: now - 1000, to: now + 1 };
    /**
     * In which order a long read and two short ones asked after it are answered. With every thread
     * busy, the second short read goes to the thread whose oldest read was asked last: not behind the long one.
     */
    const order = async (threads: number) => {
      const reads = new SqliteThreads(
        { path, rawRetentionMs: 30 * 24 * HOUR, longTermRetentionMs: 730 * 24 * HOUR, role: 'reader' },
        { maxWaiting: 8, threads },
      );
      try {
        // Every thread started and reading first: as many reads asked in one turn.
        expect(await Promise.all(Array.from({ length: threads }, () => reads.ask('count', short, now)))).toEqual(
          Array(threads).fill(50),
        );
        const answered: string[] = [];
        await Promise.all([
          reads.ask('query', zoneChart, now).then(() => answered.push('long')),
          reads.ask('count', short, now + 1).then(() => answered.push('short')),
          reads.ask('count', short, now + 2).then(() => answered.push('second short')),
        ]);
        return answered;
      } finally {
        await reads.close();
      }
    };
    expect(await order(1)).toEqual(['long', 'short', 'second short']);
    expect(await order(2)).toEqual(['short', 'second short', 'long']);
    await writer.close();
  });

  it('uses WAL and keeps its data across a reopen', async () => {
    const path = newPath();
    const a = new SqliteStore({ path, now: () => now });
    await a.init();
    await a.write([{ device: 'd1', metric: 'noise', ts: now, value: 61.5, zone: 'z1' }]);
    await a.close();

    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();

    const b = new SqliteStore({ path, now: () => now });
    await b.init();
    expect(await b.query({ device: 'd1', metric: 'noise', from: now, to: now + 1 })).toEqual([
      { ts: now, value: 61.5, device: 'd1' },
    ]);
    await b.close();
  });

  it('prune(now) deletes readings older than rawRetentionMs and nothing newer', async () => {
    const store = new SqliteStore({ path: newPath(), rawRetentionMs: 24 * HOUR, now: () => now });
    await store.init();
    const ts = [now - 48 * HOUR, now - 24 * HOUR - 1, now - 24 * HOUR, now - HOUR, now];
    await store.write(ts.map((t, i) => ({ device: 'd1', metric: 'co2', ts: t, value: 400 + i, zone: 'z1' })));
    expect(await store.prune(now)).toEqual({ readings: 2, minutes: 0, alertEvents: 0 });
    expect(await store.prune(now)).toEqual({ readings: 0, minutes: 0, alertEvents: 0 });
    // From where the raw retention begins (before it, the minutes answer).
    const left = await store.query({ device: 'd1', metric: 'co2', from: now - 24 * HOUR, to: now + 1 });
    expect(left.map((p) => p.ts)).toEqual([now - 24 * HOUR, now - HOUR, now]);
    expect(await store.count({ device: 'd1', metric: 'co2', from: 0, to: now + 1 })).toBe(3);
    await store.close();
  });

  it('makes the minutes of the readings a store from before minutes holds, once, when it opens it', async () => {
    const path = newPath();
    const before = new SqliteStore({ path, now: () => now });
    await before.init();
    await before.write([
      { device: 'd1', metric: 'noise', ts: now - 50_000, value: 40, zone: 'z1' },
      { device: 'd1', metric: 'noise', ts: now - 40_000, value: 80, zone: 'z1' },
    ]);
    await before.close();
    // An earlier release's file: readings, no minutes table.
    const db = new Database(path);
    db.exec('DROP TABLE minutes');
    db.close();
    const after = new SqliteStore({ path, now: () => now + 40 * 24 * HOUR });
    await after.init();
    const [minute] = await after.queryMinutes({ device: 'd1', metric: 'noise', from: 0, to: now + 1 });
    expect(minute).toMatchObject({ ts: now - 60_000, count: 2, mean: 60, min: 40, max: 80 });
    expect(10 * Math.log10(minute!.energy!)).toBeCloseTo(77, 0);
    // Past the raw retention the old readings still answer, through their minutes.
    expect(await after.query({ device: 'd1', metric: 'noise', from: now - HOUR, to: now, agg: 'mean' })).toEqual([
      { ts: now - HOUR, value: 60 },
    ]);
    await after.close();
  });

  it('prune(now) removes raw readings past the raw retention while their minutes stay and still answer', async () => {
    let clock = now;
    const store = new SqliteStore({ path: newPath(), rawRetentionMs: 24 * HOUR, now: () => clock });
    await store.init();
    const minute = now - 30 * 60_000;
    const readings = [
      { device: 'd1', metric: 'co2', ts: minute + 1000, value: 600, zone: 'z1' },
      { device: 'd1', metric: 'co2', ts: minute + 31_000, value: 700, zone: 'z1' },
    ];
    await store.write(readings);
    await store.rollUp(touchedMinutes(readings));
    clock = now + 48 * HOUR;
    expect(await store.prune(clock)).toEqual({ readings: 2, minutes: 0, alertEvents: 0 });
    expect(await store.count({ device: 'd1', metric: 'co2', from: 0, to: clock })).toBe(0);
    expect(await store.query({ device: 'd1', metric: 'co2', from: minute, to: minute + HOUR, agg: 'mean' })).toEqual([
      { ts: minute, value: 650 },
    ]);
    // Past the long-term retention the minutes go too.
    expect(await store.prune(now + 105 * 7 * 24 * HOUR)).toEqual({ readings: 0, minutes: 1, alertEvents: 0 });
    await store.close();
  });

  it('prune(now) deletes alert history older than longTermRetentionMs and nothing newer', async () => {
    const store = new SqliteStore({ path: newPath(), rawRetentionMs: HOUR, longTermRetentionMs: 48 * HOUR });
    await store.init();
    const at = [now - 72 * HOUR, now - 48 * HOUR - 1, now - 48 * HOUR, now - 2 * HOUR, now];
    await store.writeAlertEvents(
      at.map((t, i) => ({
        alertId: i + 1,
        key: 'co2.c-1',
        rule: 'co2',
        subject: 'c-1',
        zone: 'z1',
        event: 'firing',
        severity: 'warning',
        at: t,
        summary: 'CO₂ above 1000 ppm',
      })),
    );
    expect(await store.prune(now)).toEqual({ readings: 0, minutes: 0, alertEvents: 2 });
    expect(await store.prune(now)).toEqual({ readings: 0, minutes: 0, alertEvents: 0 });
    const left = await store.queryAlertEvents({ from: 0, to: now + 1 });
    expect(left.map((r) => r.at)).toEqual([now - 48 * HOUR, now - 2 * HOUR, now]);
    await store.close();
  });

  it('defaults to 30 days of readings and 104 weeks of minutes and alert history', () => {
    const store = new SqliteStore({ path: ':memory:' });
    expect(store.rawRetentionMs).toBe(30 * 24 * HOUR);
    expect(store.longTermRetentionMs).toBe(104 * 7 * 24 * HOUR);
    expect(() => new SqliteStore({ path: ':memory:', longTermRetentionMs: 0 })).toThrow(
      /longTermRetentionMs 0 must be positive/,
    );
  });

  it('windows readings before 1970 on the epoch grid too', async () => {
    const store = new SqliteStore({ path: ':memory:', now: () => 1000 });
    await store.init();
    await store.write([
      { device: 'd1', metric: 'noise', ts: -1500, value: 40, zone: 'z1' },
      { device: 'd1', metric: 'noise', ts: -500, value: 50, zone: 'z1' },
      { device: 'd1', metric: 'noise', ts: 500, value: 60, zone: 'z1' },
    ]);
    expect(
      await store.query({ device: 'd1', metric: 'noise', from: -5000, to: 5000, every: 1000, agg: 'max' }),
    ).toEqual([
      { ts: -2000, value: 40 },
      { ts: -1000, value: 50 },
      { ts: 0, value: 60 },
    ]);
    await store.close();
  });

  it('reports unhealthy once closed', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.init();
    expect((await store.health()).ok).toBe(true);
    await store.close();
    expect((await store.health()).ok).toBe(false);
  });
});
