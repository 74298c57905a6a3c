// The SQLite store's worker threads: reads answered and writes made off the hub's thread, each
// thread's failures told as the store being unavailable, and the bound on reads waiting for them.
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

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floorwatch-sqlite-threads-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const newPath = (): string => join(dir, `store-${++n}.db`);

describe('SqliteStore in threads of its own', () => {
  const HOUR = 3_600_000;
  const now = Date.UTC(2026, 0, 31, 12);

  it('says the store is unavailable when its read thread cannot read, starts another 5 s on, none once closed', async () => {
    const absent = join(dir, 'absent');
    // Its own time, not the hub's clock, which may be set back.
    let elapsed = 0;
    const reads = new SqliteThreads(
      { path: join(absent, 'store.db'), rawRetentionMs: HOUR, longTermRetentionMs: HOUR, role: 'reader' },
      undefined,
      () => elapsed,
    );
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
    elapsed = RESTART_AFTER_MS - 1;
    await expect(reads.ask('count', q, now)).rejects.toThrow(/started again within 5 s$/);
    elapsed = RESTART_AFTER_MS;
    expect(await reads.ask('count', q, now - HOUR)).toBe(1);
    await store.close();
    await reads.close();
    await expect(reads.ask('count', q, now)).rejects.toThrow(new StoreUnavailable('the store is closed'));
  });

  it('refuses a request whose argument cannot be copied to a thread as a fault in it, not the store’s, and nothing waits for it', async () => {
    const path = join(dir, 'uncopied.db');
    const store = new SqliteStore({ path });
    await store.init();
    await store.write([{ device: 'd1', metric: 'noise', ts: now - 1000, value: 40, zone: 'z1' }]);
    const reads = new SqliteThreads(
      { path, rawRetentionMs: HOUR, longTermRetentionMs: HOUR, role: 'reader' },
      { maxWaiting: 1 },
    );
    // A function cannot be copied to another thread.
    const uncopied = { from: 0, to: now, metric: (() => 'noise') as unknown as string };
    const refused = await reads.ask('count', uncopied, now).catch((err: unknown) => err);
    // Not to be retried as if the store were away: the journal sets such an entry aside.
    expect(refused).toBeInstanceOf(Error);
    expect(refused).not.toBeInstanceOf(StoreUnavailable);
    expect((refused as Error).message).toMatch(/^the SQLite reader could not be asked: .*could not be cloned/);
    // Had it waited, this would be refused as busy.
    expect(await reads.ask('count', { from: 0, to: now }, now)).toBe(1);
    await reads.close();
    await store.close();
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

  it('prunes weeks of readings in steps: a write asked meanwhile lands before the prune ends, in its thread or not', async () => {
    const DAY = 24 * HOUR;
    const old = Array.from({ length: 25_000 }, (_, i) => ({
      device: `d${i % 50}`,
      metric: 'noise',
      ts: now - 40 * DAY + i * 1000,
      value: 40,
      zone: 'z1',
    }));
    for (const options of [{ writeThread: true }, {}]) {
      const store = new SqliteStore({ path: newPath(), now: () => now, ...options });
      await store.init();
      await store.write(old);
      const order: string[] = [];
      const pruning = store.prune(now).finally(() => order.push('pruned'));
      const fresh = [{ device: 'd1', metric: 'noise', ts: now - 1000, value: 41, zone: 'z1' }];
      const writing = store.write(fresh).finally(() => order.push('written'));
      expect(await pruning).toEqual({ readings: 25_000, minutes: 0, alertEvents: 0 });
      await writing;
      expect(order).toEqual(['written', 'pruned']);
      expect(await store.count({ from: 0, to: now })).toBe(1);
      await store.close();
    }
  });

  it('writes when the hub’s own set-up of the file failed at start: its thread sets the file up', async () => {
    const store = new SqliteStore({ path: newPath(), now: () => now, writeThread: true });
    // No init() on the hub's thread, as when the file was busy or the disk full at start.
    const readings = [{ device: 'd1', metric: 'noise', ts: now - 1000, value: 40, zone: 'z1' }];
    await store.write(readings);
    await store.rollUp(touchedMinutes(readings));
    expect(await store.count({ from: 0, to: now })).toBe(1);
    expect(await store.queryMinutes({ device: 'd1', metric: 'noise', from: 0, to: now })).toHaveLength(1);
    await store.close();
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
});
