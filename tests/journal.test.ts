// The journal on segment files: the contract every journal passes, and what is particular to this
// one's positions on disk (consumers/<name>.pos, <name>.own) and its segments' removal. The
// segment format itself is in journal-segments.test.ts.
import { appendFile, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../hub/domain/reading.ts';
import { Journal, systemClock } from '../hub/journal/journal.ts';
import { SetAsideLog } from '../hub/journal/set-aside.ts';
import { describeJournalContract } from './journal-contract.ts';
import {
  collector,
  journalFixtures,
  latch,
  logCapture,
  range,
  readAll,
  reading,
  segmentFiles,
} from './support/journal.ts';

describeJournalContract('segment files', {
  open: (options) => Journal.open(options),
  // What a crash in the middle of an append leaves: part of a record after the newest segment's last one.
  tearTail: async (dir) => {
    const newest = (await segmentFiles(dir)).at(-1)!;
    await appendFile(
      join(dir, newest),
      Buffer.concat([Buffer.from([100, 0, 0, 0, 1, 2, 3, 4]), Buffer.from('{"type":"readi')]),
    );
  },
  savedPositions: async (dir) =>
    (await readdir(join(dir, 'consumers'))).filter((f) => f.endsWith('.pos')).map((f) => f.slice(0, -'.pos'.length)),
});

describe('journal positions and segments on disk', () => {
  const { tempDir, openJournal, atCleanup } = journalFixtures((options) => Journal.open(options));
  // Every wait a thousand times shorter: the close's wait for consumers among them.
  const quickClock = {
    ...systemClock,
    setTimeout: (fn: () => void, ms: number) => systemClock.setTimeout(fn, ms / 1000),
  };

  it('delivers appended entries to a consumer with their LSNs and commits its position on stop', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    const c = collector();
    const handle = j.consume('store', c.handler);

    expect(await j.append([reading(1)])).toBe(1);
    expect(await j.append([reading(2), reading(3)])).toBe(3);
    expect(await j.append([reading(4), reading(5), reading(6)])).toBe(6);
    await c.until(6);

    expect(c.got).toEqual(range(1, 6).map((i) => ({ lsn: i, entry: reading(i) })));
    expect(await readAll(j)).toEqual(c.got);
    expect(await readAll(j, 4)).toEqual(c.got.slice(3));

    await handle.stop();
    expect(await readFile(join(dir, 'consumers', 'store.pos'), 'utf8')).toBe('6\n');
    const st = j.status();
    expect(st).toMatchObject({ writable: true, lastLsn: 6, durableLsn: 6, segments: 1 });
    expect(st.lastError).toBeUndefined();
    expect(st.consumers).toEqual([{ name: 'store', committedLsn: 6, lag: 0 }]);
  });

  it('closes without a consumer whose handler never finishes, and hands that consumer its entries again next start', async () => {
    const dir = await tempDir();
    const { logs, log } = logCapture();
    const j = await Journal.open({ dir, log, clock: quickClock });
    const called = latch();
    // A store that never answers.
    j.consume('store', () => {
      called.release();
      return new Promise<void>(() => {});
    });
    const devices = collector();
    const devicesHandle = j.consume('devices', devices.handler);
    await j.append([reading(1), reading(2)]);
    await Promise.all([called.done, devices.until(2)]);
    // Stopped before, so that only the store is still busy however slowly its position is saved.
    await devicesHandle.stop();

    await j.close();
    expect(logs).toContainEqual({
      level: 'warn',
      msg: 'journal: consumers still busy; closing without them, they start from their last position',
      fields: { consumers: ['store'] },
    });
    expect(await readFile(join(dir, 'consumers', 'devices.pos'), 'utf8')).toBe('2\n');

    const again = await openJournal({ dir });
    const store = collector();
    again.consume('store', store.handler);
    await store.until(2);
    expect(store.got.map((r) => r.lsn)).toEqual([1, 2]);
  });

  it('a consumer left by the close saves nothing when its handler finishes after all, so its entries are handed over again', async () => {
    const dir = await tempDir();
    const { logs, log } = logCapture();
    const j = await Journal.open({ dir, log, clock: quickClock });
    const called = latch();
    let answer: () => void = () => undefined;
    // A store that answers only after the hub gave up waiting for it.
    const handle = j.consume('store', () => {
      called.release();
      return new Promise<void>((resolve) => (answer = resolve));
    });
    await j.append([reading(1), reading(2)]);
    await called.done;
    await j.close();
    const said = logs.length;
    expect(await readFile(join(dir, 'consumers', 'store.pos'), 'utf8')).toBe('0\n');

    answer();
    // Everything the consumer does after its handler, its last save included, is over once its stop is.
    await handle.stop();
    expect(await readFile(join(dir, 'consumers', 'store.pos'), 'utf8')).toBe('0\n');
    expect(logs.slice(said)).toEqual([]);
  });

  it('saves a position no further than the consumer holds, finishes what it holds before its last save, and replays the rest after a crash', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    const c = collector();
    // The consumer finishes entries after its handler: here, everything after LSN 2 is outstanding.
    let held: number | undefined = 2;
    const handle = j.consume('store', c.handler, { commitIntervalMs: 0, holds: () => held });
    await j.append([reading(1), reading(2), reading(3), reading(4)]);
    await c.until(4);
    await j.append([reading(5)]);
    await c.until(5);
    await handle.stop();
    // Handled through 5, saved at 2.
    expect(await readFile(join(dir, 'consumers', 'store.pos'), 'utf8')).toBe('2\n');
    expect(j.status().consumers).toEqual([{ name: 'store', committedLsn: 2, lag: 3 }]);

    // Started again (as after a crash): what was held is handed over again; on stop, it finishes.
    const again = collector();
    held = 2;
    const second = j.consume('store', again.handler, {
      holds: () => held,
      finish: async () => {
        held = undefined;
      },
    });
    await again.until(3);
    expect(again.got.map((g) => g.lsn)).toEqual([3, 4, 5]);
    await second.stop();
    expect(await readFile(join(dir, 'consumers', 'store.pos'), 'utf8')).toBe('5\n');
  });

  it('with a minimum interval between calls, gathers what arrives meanwhile into the next call', async () => {
    const dir = await tempDir();
    // Without fsync the appends take far less than the interval, however busy the machine.
    const j = await openJournal({ dir, fsync: false });
    const c = collector();
    const handle = j.consume('store', c.handler, { minCallIntervalMs: 1000 });
    // A quiet journal: the first entry is handed over at once.
    await j.append([reading(1)]);
    await c.until(1);
    for (let i = 2; i <= 4; i++) await j.append([reading(i)]);
    await c.until(4);
    expect(c.calls).toEqual([
      { entries: [reading(1)], lastLsn: 1 },
      { entries: [reading(2), reading(3), reading(4)], lastLsn: 4 },
    ]);
    // Stopped while it waits: the position is that of the last call.
    await j.append([reading(5)]);
    await handle.stop();
    expect(await readFile(join(dir, 'consumers', 'store.pos'), 'utf8')).toBe('4\n');
  });

  it('starts a consumer that keeps its own position after it, and saves none for it', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    let durableUpTo = 0;
    const c = collector();
    const handle = j.consume('rules', c.handler, { commitIntervalMs: 0, position: () => durableUpTo });
    await j.append([reading(1), reading(2)]);
    await c.until(2);
    await j.append([reading(3)]);
    await c.until(3);
    await handle.stop();
    // Handled is not durable: the position is what the consumer says.
    expect(j.status().consumers).toEqual([{ name: 'rules', committedLsn: 0, lag: 3 }]);
    expect(await readdir(join(dir, 'consumers'))).toEqual(['rules.own']);
    await j.close();

    // Once it has made 1 and 2 durable, the next start hands it everything after 2.
    durableUpTo = 2;
    const j2 = await openJournal({ dir });
    const after = collector();
    const again = j2.consume('rules', after.handler, { position: () => durableUpTo });
    await j2.append([reading(4)]);
    await after.until(2);
    expect(after.got.map((r) => r.lsn)).toEqual([3, 4]);
    await again.stop();
    expect(await readdir(join(dir, 'consumers'))).toEqual(['rules.own']);
  });

  it('sets aside an entry its consumer keeps failing on, hands over everything after it, and never that entry again, also after a restart', async () => {
    const dir = await tempDir();
    const asidePath = join(dir, 'set-aside.jsonl');
    let setAside = await SetAsideLog.open({ path: asidePath, capacity: 100, now: () => 42 });
    const j = await Journal.open({ dir, setAside });
    await j.append(range(1, 30).map((i) => reading(i)));

    const accepted: number[] = [];
    const attemptsAt12: number[][] = [];
    const { done: all, release: reached30 } = latch();
    const poisoned = (entries: Entry[], lastLsn: number) => {
      const lsns = entries.map((_, i) => lastLsn - entries.length + 1 + i);
      // What an entry of an older release, or a bug, does to a handler: it throws on that entry only.
      if (lsns.includes(12)) {
        attemptsAt12.push(lsns);
        throw new TypeError("Cannot read properties of undefined (reading 'value')");
      }
      accepted.push(...lsns);
      if (lastLsn === 30) reached30();
    };
    j.consume('store', poisoned, { maxBatch: 7, maxBackoffMs: 5 });
    await all;
    await j.close();
    await setAside.close();

    // Everything but entry 12, once each, in order.
    expect(accepted).toEqual(range(1, 30).filter((i) => i !== 12));
    // The failing run of 7 three times, then one entry at a time up to 12, which fails three times alone.
    expect(attemptsAt12).toEqual([range(8, 14), range(8, 14), range(8, 14), [12], [12], [12]]);
    const listed = setAside.list();
    expect(listed).toEqual([
      expect.objectContaining({
        at: 42,
        stage: 'store',
        reason: 'consumer_failed',
        lsn: 12,
        device: 'dev-0',
        detail: "Cannot read properties of undefined (reading 'value')",
      }),
    ]);
    expect(listed[0]?.excerpt).toContain('"value":12');

    // A consumer whose position is behind the entry (its own saved state is older) never sees it again.
    await rm(join(dir, 'consumers', 'store.pos'));
    setAside = await SetAsideLog.open({ path: asidePath, capacity: 100, now: () => 43 });
    const again = await openJournal({ dir, setAside });
    const c = collector();
    again.consume('store', c.handler, { maxBatch: 7 });
    await c.until(29);
    expect(c.got.map((r) => r.lsn)).toEqual(range(1, 30).filter((i) => i !== 12));
    await again.close();
    await setAside.close();
  });

  it('removes a segment only once every consumer, including ones known only from disk, is past it', async () => {
    const dir = await tempDir();
    const j1 = await openJournal({ dir, segmentBytes: 512 });
    // Registers 'audit' at position 0, then leaves it only on disk.
    await j1.consume('audit', () => {}).stop();
    expect(await readFile(join(dir, 'consumers', 'audit.pos'), 'utf8')).toBe('0\n');
    for (let i = 1; i <= 40; i++) await j1.append([reading(i)]);
    await j1.close();
    const before = await segmentFiles(dir);
    expect(before.length).toBeGreaterThan(3);

    const j2 = await openJournal({ dir, segmentBytes: 512 });
    const store = collector();
    const storeHandle = j2.consume('store', store.handler, { commitIntervalMs: 0 });
    await store.until(40);
    await storeHandle.stop();
    expect(j2.status().consumers).toEqual([
      { name: 'audit', committedLsn: 0, lag: 40 },
      { name: 'store', committedLsn: 40, lag: 0 },
    ]);
    // 'audit' has read nothing: every segment stays.
    expect(await segmentFiles(dir)).toEqual(before);
    expect(j2.status().segments).toBe(before.length);

    // 'audit' reads part of the way: only segments wholly behind it go.
    const audit = collector();
    const auditHandle = j2.consume('audit', audit.handler, { maxBatch: 4, commitIntervalMs: 0 });
    await audit.until(20);
    await auditHandle.stop();
    const committed = j2.status().consumers.find((c) => c.name === 'audit')!.committedLsn;
    expect(committed).toBeGreaterThanOrEqual(20);
    const after = await segmentFiles(dir);
    expect(after.length).toBeLessThan(before.length);
    expect(after.length).toBeGreaterThan(1);
    expect(before.slice(before.length - after.length)).toEqual(after);
    const oldestLeft = Number(after[0]!.slice(0, 20));
    expect(oldestLeft).toBeLessThanOrEqual(committed + 1); // nothing 'audit' has not read is gone
    const oldestNext = Number(after[1]!.slice(0, 20));
    expect(oldestNext).toBeGreaterThan(committed + 1); // the kept oldest segment is still needed
    expect((await readAll(j2))[0]!.lsn).toBe(oldestLeft);

    // Forgetting 'audit', which no one runs now, frees everything but the current segment.
    const running = j2.consume('store', collector().handler);
    expect(await j2.forgetIdle()).toEqual(['audit']);
    await running.stop();
    expect(await segmentFiles(dir)).toEqual([before.at(-1)]);
    expect(j2.status().segments).toBe(1);
    expect(j2.status().consumers.map((c) => c.name)).toEqual(['store']);
    await expect(stat(join(dir, 'consumers', 'audit.pos'))).rejects.toThrow(/ENOENT/);
    expect((await readAll(j2)).map((r) => r.lsn).at(-1)).toBe(40);
  });

  it('keeps a non-durable consumer in memory only: no position file, no hold on segments', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir, segmentBytes: 512 });
    for (let i = 1; i <= 20; i++) await j.append([reading(i)]);
    const segmentsBefore = j.status().segments;
    expect(segmentsBefore).toBeGreaterThan(2);

    // 'live' is stuck in its first batch, far behind.
    const { done: gate, release } = latch();
    atCleanup(release);
    const live = collector();
    const liveHandle = j.consume(
      'live',
      async (entries, lastLsn) => {
        live.handler(entries, lastLsn);
        await gate;
      },
      { durable: false, maxBatch: 2 },
    );
    await live.until(2);
    const store = collector();
    const storeHandle = j.consume('store', store.handler, { commitIntervalMs: 0 });
    await store.until(20);
    await storeHandle.stop();
    expect(j.status().consumers).toEqual([
      { name: 'live', committedLsn: 0, lag: 20, behindMs: expect.any(Number) as unknown },
      { name: 'store', committedLsn: 20, lag: 0 },
    ]);
    expect(j.status().segments).toBe(1);

    // It carries on from what is still there.
    release();
    expect(await j.append([reading(21)])).toBe(21);
    while (live.got.at(-1)?.lsn !== 21) await live.until(live.got.length + 1);
    const lsns = live.got.map((r) => r.lsn);
    expect(lsns).toEqual([...lsns].sort((a, b) => a - b));
    expect(new Set(lsns).size).toBe(lsns.length);
    await liveHandle.stop();
    expect(await readdir(join(dir, 'consumers'))).toEqual(['store.pos']);
    expect(j.status().consumers.map((c) => c.name)).toEqual(['store']);
  });
});
