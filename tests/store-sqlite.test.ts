import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { touchedMinutes } from '../hub/store/minutes.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
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
