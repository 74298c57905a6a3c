import { execFileSync } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../hub/domain/reading.ts';
import { Journal, systemClock, type JournalLogLevel, type JournalOptions, type JournalRecord } from '../hub/journal/journal.ts';
import { SetAsideLog } from '../hub/journal/set-aside.ts';

const tempDirs: string[] = [];
const openJournals: Journal[] = [];
/** Run before journals close, e.g. to release a handler a failed test left blocked. */
const cleanups: Array<() => void> = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'floorwatch-journal-'));
  tempDirs.push(dir);
  return dir;
}

async function openJournal(opts: JournalOptions): Promise<Journal> {
  const j = await Journal.open(opts);
  openJournals.push(j);
  return j;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(openJournals.splice(0).map((j) => j.close()));
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function reading(i: number, readings = 1): Entry {
  return {
    type: 'readings',
    readings: Array.from({ length: readings }, (_, k) => ({
      device: `dev-${k}`,
      metric: 'temperature',
      value: i + k / 100,
      ts: 1_700_000_000_000 + i,
      zone: 'floor-1',
    })),
  };
}

function logCapture(): {
  logs: Array<{ level: JournalLogLevel; msg: string; fields?: object }>;
  log: NonNullable<JournalOptions['log']>;
} {
  const logs: Array<{ level: JournalLogLevel; msg: string; fields?: object }> = [];
  return { logs, log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }) };
}

async function readAll(j: Journal, from?: number): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const r of j.readAll(from)) out.push(r);
  return out;
}

/** Decodes a segment file independently of the journal code. */
function decodeSegment(buf: Buffer): unknown[] {
  const out: unknown[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    const payload = buf.subarray(off + 8, off + 8 + len);
    expect(payload.length).toBe(len);
    expect(crc32(payload)).toBe(sum);
    out.push(JSON.parse(payload.toString('utf8')));
    off += 8 + len;
  }
  return out;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.seg')).sort();
}

/** A consumer handler that records what it got and lets a test await a count. */
function collector() {
  const got: JournalRecord[] = [];
  const calls: Array<{ entries: Entry[]; lastLsn: number }> = [];
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  const handler = (entries: Entry[], lastLsn: number): void => {
    calls.push({ entries, lastLsn });
    entries.forEach((entry, i) => got.push({ lsn: lastLsn - entries.length + 1 + i, entry }));
    waiters = waiters.filter((w) => {
      if (got.length < w.n) return true;
      w.resolve();
      return false;
    });
  };
  const until = (n: number): Promise<void> =>
    got.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }));
  return { got, calls, handler, until };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('journal', () => {
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

  it('wakes a caught-up consumer on every durable append', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    const c = collector();
    j.consume('rules', c.handler);
    for (let i = 1; i <= 20; i++) {
      // Reading back needs no I/O, the append does: the consumer is idle before each append lands.
      expect(await j.append([reading(i)])).toBe(i);
      await c.until(i);
    }
    expect(c.got.map((r) => r.lsn)).toEqual(range(1, 20));
    expect(c.calls.length).toBeGreaterThanOrEqual(2);
  }, 10_000);

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

  it('has the entries on disk, in the documented format, when append resolves', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    await j.append([reading(1), reading(2)]);
    await j.append([reading(3)]);

    expect(await segmentFiles(dir)).toEqual(['00000000000000000001.seg']);
    const onDisk = decodeSegment(await readFile(join(dir, '00000000000000000001.seg')));
    expect(onDisk).toEqual([reading(1), reading(2), reading(3)]);
    expect(j.status().bytes).toBe((await stat(join(dir, '00000000000000000001.seg'))).size);

    // A second instance sees them too, while the first is still open.
    const other = await Journal.open({ dir });
    try {
      expect((await readAll(other)).map((r) => r.lsn)).toEqual([1, 2, 3]);
    } finally {
      await other.close();
    }
  });

  it('group-commits concurrent appends: one write and fsync for many appends', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });

    for (let i = 1; i <= 10; i++) await j.append([reading(i)]);
    // Sequential appends cannot share a flush: the counter counts real fsyncs.
    expect(j.status().flushes).toBe(10);

    const lsns = await Promise.all(range(11, 1010).map((i) => j.append([reading(i)])));
    expect(lsns).toEqual(range(11, 1010));
    const flushes = j.status().flushes - 10;
    expect(flushes).toBeGreaterThanOrEqual(1);
    expect(flushes).toBeLessThanOrEqual(5);

    const all = await readAll(j);
    expect(all.map((r) => r.lsn)).toEqual(range(1, 1010));
    expect(all.map((r) => r.entry)).toEqual(range(1, 1010).map((i) => reading(i)));
  });

  it('replays after reopen from the committed position; new consumers start per `from`', async () => {
    const dir = await tempDir();
    const j1 = await openJournal({ dir });
    for (let i = 1; i <= 10; i++) await j1.append([reading(i)]);
    const first = collector();
    const h = j1.consume('rules', first.handler, { maxBatch: 3 });
    await first.until(10);
    await h.stop();
    await j1.append([11, 12, 13, 14, 15].map((i) => reading(i)));
    await j1.close();

    const j2 = await openJournal({ dir });
    expect(j2.status().consumers).toEqual([{ name: 'rules', committedLsn: 10, lag: 5 }]);
    const again = collector();
    j2.consume('rules', again.handler);
    const late = collector();
    j2.consume('late', late.handler, { from: 'end' });
    await again.until(5);
    await j2.append([reading(16)]);
    await again.until(6);
    await late.until(1);
    const fresh = collector();
    j2.consume('fresh', fresh.handler);
    await fresh.until(16);

    expect(again.got.map((r) => r.lsn)).toEqual(range(11, 16));
    expect(again.got.map((r) => r.entry)).toEqual(range(11, 16).map((i) => reading(i)));
    expect(late.got.map((r) => r.lsn)).toEqual([16]);
    expect(fresh.got.map((r) => r.lsn)).toEqual(range(1, 16));
  });

  const garbage: Array<[string, Buffer]> = [
    ['a partial header', Buffer.from([0x20, 0x00, 0x00])],
    [
      'a partial record',
      Buffer.concat([Buffer.from([100, 0, 0, 0, 1, 2, 3, 4]), Buffer.from('{"type":"readi')]),
    ],
    [
      'a record with a bad checksum',
      (() => {
        const payload = Buffer.from(JSON.stringify(reading(99)));
        const head = Buffer.alloc(8);
        head.writeUInt32LE(payload.length, 0);
        head.writeUInt32LE((crc32(payload) ^ 1) >>> 0, 4);
        return Buffer.concat([head, payload]);
      })(),
    ],
    ['a zero-filled tail', Buffer.alloc(4096)],
  ];

  it.each(garbage)('truncates %s at the end of the last segment on reopen', async (_what, bytes) => {
    const dir = await tempDir();
    const seg = join(dir, '00000000000000000001.seg');
    const j1 = await openJournal({ dir });
    for (let i = 1; i <= 5; i++) await j1.append([reading(i)]);
    await j1.close();
    const goodSize = (await stat(seg)).size;
    await appendFile(seg, bytes);

    const { logs, log } = logCapture();
    const j2 = await openJournal({ dir, log });
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'journal: truncated an incomplete record at the end of the journal',
    ]);
    expect((await stat(seg)).size).toBe(goodSize);
    expect(await readAll(j2)).toEqual(range(1, 5).map((i) => ({ lsn: i, entry: reading(i) })));
    expect(await j2.append([reading(6)])).toBe(6);
    await j2.close();

    const again = logCapture();
    const j3 = await openJournal({ dir, log: again.log });
    expect(again.logs.filter((l) => l.level !== 'info')).toEqual([]);
    expect(await readAll(j3)).toEqual(range(1, 6).map((i) => ({ lsn: i, entry: reading(i) })));
  });

  it('stops at corruption inside an older segment, warns, and keeps the later segments', async () => {
    const dir = await tempDir();
    const j1 = await openJournal({ dir, segmentBytes: 512 });
    for (let i = 1; i <= 40; i++) await j1.append([reading(i)]);
    await j1.close();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3);

    // Flip a byte inside the second record's payload of the first segment.
    const firstPath = join(dir, files[0]!);
    const buf = await readFile(firstPath);
    const second = 8 + buf.readUInt32LE(0);
    buf.writeUInt8(buf.readUInt8(second + 8 + 5) ^ 0xff, second + 8 + 5);
    await writeFile(firstPath, buf);
    const secondFirstLsn = Number(files[1]!.slice(0, 20));

    const { logs, log } = logCapture();
    const j2 = await openJournal({ dir, segmentBytes: 512, log });
    const warnings = logs.filter((l) => l.level === 'warn');
    expect(warnings.map((l) => l.msg)).toEqual([
      'journal: corrupt record in an older segment; the entries after it in that segment are lost',
      'journal: entries missing between segments',
    ]);
    expect(warnings[0]!.fields).toMatchObject({ segment: firstPath, problem: 'checksum mismatch', lastGoodLsn: 1 });
    // Older segments are left as they are, for inspection.
    expect((await stat(firstPath)).size).toBe(buf.length);

    const expected = [1, ...range(secondFirstLsn, 40)];
    expect((await readAll(j2)).map((r) => r.lsn)).toEqual(expected);
    const c = collector();
    j2.consume('store', c.handler);
    await c.until(expected.length);
    expect(c.got.map((r) => r.lsn)).toEqual(expected);
    expect(c.got.map((r) => r.entry)).toEqual(expected.map((i) => reading(i)));
    expect(await j2.append([reading(41)])).toBe(41);
  });

  it('hands a consumer that keeps its own position everything after that position again when a batch fails', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    const calls: number[][] = [];
    const errors: unknown[] = [];
    const reverted = new Error('state reverted to an older save');
    let refuse = true;
    const c = collector();
    // The consumer has made nothing durable yet: its position stays 0.
    j.consume(
      'rules',
      (entries, lastLsn) => {
        const lsns = entries.map((_, i) => lastLsn - entries.length + 1 + i);
        calls.push(lsns);
        if (lsns.includes(11) && refuse) {
          refuse = false;
          throw reverted;
        }
        c.handler(entries, lastLsn);
      },
      { maxBatch: 5, position: () => 0, onError: (err) => errors.push(err) },
    );
    for (const first of [1, 6, 11]) {
      await j.append(range(first, first + 4).map((i) => reading(i)));
      await c.until(Math.min(first + 4, 10));
    }
    await c.until(25);
    expect(calls).toEqual([range(1, 5), range(6, 10), range(11, 15), range(1, 5), range(6, 10), range(11, 15)]);
    // The failure is reported once; handing the entries over again is no second one.
    expect(errors).toEqual([reverted]);
    // The journal saved no position of its own for it.
    await expect(stat(join(dir, 'consumers', 'rules.pos'))).rejects.toThrow(/ENOENT/);
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

  it('hands a consumer whose own state went back everything after its position again when it says so', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    let durableUpTo = 0;
    const c = collector();
    const handle = j.consume('rules', c.handler, { position: () => durableUpTo });
    await j.append(range(1, 5).map((i) => reading(i)));
    await c.until(5);
    // Its state went back to the save of 2 outside the handler (a failed tick), while it waited for appends.
    durableUpTo = 2;
    handle.rewind();
    await c.until(8);
    await j.append([reading(6)]);
    await c.until(9);
    expect(c.got.map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5, 3, 4, 5, 6]);
  });

  it('retries a failed batch after a backoff, skipping and duplicating nothing', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    await j.append(range(1, 30).map((i) => reading(i)));

    const calls: Array<{ lastLsn: number; lsns: number[]; ok: boolean }> = [];
    const errors: Array<{ err: unknown; attempt: number }> = [];
    const boom = new Error('store unavailable');
    let failuresLeft = 2;
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const started = Date.now();
    j.consume(
      'store',
      async (entries, lastLsn) => {
        const lsns = entries.map((_, i) => lastLsn - entries.length + 1 + i);
        expect(entries).toEqual(lsns.map((i) => reading(i)));
        if (lsns.includes(10) && failuresLeft > 0) {
          calls.push({ lastLsn, lsns, ok: false });
          failuresLeft -= 1;
          if (failuresLeft === 1) throw boom; // synchronous-style throw in an async handler
          return Promise.reject(boom);
        }
        calls.push({ lastLsn, lsns, ok: true });
        if (lastLsn === 30) done();
      },
      { maxBatch: 7, maxBackoffMs: 150, onError: (err, attempt) => errors.push({ err, attempt }) },
    );
    await finished;

    expect(errors).toEqual([
      { err: boom, attempt: 1 },
      { err: boom, attempt: 2 },
    ]);
    // Backoff: 100 ms, then 150 ms (capped).
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    const failed = calls.filter((c) => !c.ok);
    const ok = calls.filter((c) => c.ok);
    expect(failed.map((c) => c.lsns)).toEqual([range(8, 14), range(8, 14)]);
    expect(ok.flatMap((c) => c.lsns)).toEqual(range(1, 30));
    // The failed batch is retried as-is, right after its failures.
    expect(calls.map((c) => c.lastLsn)).toEqual([7, 14, 14, 14, 21, 28, 30]);
  });

  it('sets aside an entry its consumer keeps failing on, hands over everything after it, and never that entry again, also after a restart', async () => {
    const dir = await tempDir();
    const asidePath = join(dir, 'set-aside.jsonl');
    let setAside = await SetAsideLog.open({ path: asidePath, capacity: 100, now: () => 42 });
    const j = await Journal.open({ dir, setAside });
    await j.append(range(1, 30).map((i) => reading(i)));

    const accepted: number[] = [];
    const attemptsAt12: number[][] = [];
    let reached30!: () => void;
    const all = new Promise<void>((r) => {
      reached30 = r;
    });
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
      expect.objectContaining({ at: 42, stage: 'store', reason: 'consumer_failed', lsn: 12, device: 'dev-0', detail: "Cannot read properties of undefined (reading 'value')" }),
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

  it('tells how long ago the oldest entry a running consumer has not handled became durable', async () => {
    const dir = await tempDir();
    let now = 1_000_000;
    const j = await openJournal({ dir, clock: { ...systemClock, now: () => now } });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const c = collector();
    j.consume('rules', async (entries, lastLsn) => {
      await held;
      c.handler(entries, lastLsn);
    });
    await j.append([reading(1)]);
    now += 300;
    await j.append([reading(2)]);
    now += 4_700;
    expect(j.status().consumers).toEqual([{ name: 'rules', committedLsn: 0, lag: 2, behindMs: 5000 }]);
    release();
    await c.until(2);
    // The position moves once the handler has returned.
    for (let turn = 0; turn < 100 && j.status().consumers[0]?.behindMs !== 0; turn++) await new Promise((r) => setImmediate(r));
    expect(j.status().consumers[0]?.behindMs).toBe(0);
  });

  it('tells a consumer stuck at one batch, or failing, from one that is slow', async () => {
    const dir = await tempDir();
    let now = 1_000_000;
    const j = await openJournal({ dir, clock: { ...systemClock, now: () => now } });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let failing = true;
    let started!: () => void;
    const handling = new Promise<void>((r) => {
      started = r;
    });
    j.consume('slow', async () => {
      started();
      await held;
    });
    const failed = new Promise<void>((resolve) =>
      j.consume(
        'failing',
        async () => {
          if (failing) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
        },
        { onError: () => resolve() },
      ),
    );
    await j.append([reading(1)]);
    await handling;
    await failed;
    expect(j.stuck('slow', 5_000)).toBe(false);
    now += 5_001;
    expect(j.stuck('slow', 5_000)).toBe(true);
    release();
    // A failing consumer is stuck until a batch goes through.
    expect(j.stuck('failing', 5_000)).toBe(true);
    failing = false;
    for (let turn = 0; turn < 1000 && (j.stuck('failing', 5_000) || j.stuck('slow', 5_000)); turn++) await new Promise((r) => setTimeout(r, 5));
    expect(j.stuck('failing', 5_000)).toBe(false);
    expect(j.stuck('slow', 5_000)).toBe(false);
    expect(j.stuck('nobody', 5_000)).toBe(false);
    await j.close();
  });

  it('waits out transient failures however long they last, and sets nothing aside for them', async () => {
    const dir = await tempDir();
    const setAside = await SetAsideLog.open({ path: join(dir, 'set-aside.jsonl'), capacity: 100, now: Date.now });
    const j = await openJournal({ dir, setAside });
    await j.append(range(1, 20).map((i) => reading(i)));
    let failuresLeft = 8;
    const c = collector();
    j.consume(
      'store',
      (entries, lastLsn) => {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        }
        c.handler(entries, lastLsn);
      },
      { maxBatch: 5, maxBackoffMs: 2 },
    );
    await c.until(20);
    expect(c.got.map((r) => r.lsn)).toEqual(range(1, 20));
    expect(setAside.list()).toEqual([]);
    await j.close();
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

    // Forgetting 'audit' frees everything but the current segment.
    await j2.removeConsumer('audit');
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
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    cleanups.push(release);
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
      { name: 'live', committedLsn: 0, lag: 20, behindMs: expect.any(Number) },
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

  it('refuses appends after close and bad consumer names', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir });
    expect(() => j.consume('Bad_Name', () => {})).toThrow(/consumer name "Bad_Name" is invalid/);
    j.consume('ok-name', () => {});
    expect(() => j.consume('ok-name', () => {})).toThrow(/already running/);
    const pending = j.append([reading(1)]);
    await j.close();
    expect(await pending).toBe(1);
    await expect(j.append([reading(2)])).rejects.toThrow(/journal is closed/);
  });
});

describe('journal on a full disk', () => {
  let mnt = '';
  let j: Journal | undefined;

  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'floorwatch-journal-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  });

  afterAll(async () => {
    await j?.close();
    execFileSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  });

  it('rejects with a clear error on ENOSPC, keeps what was acknowledged, and recovers once space frees up', async () => {
    const dir = join(mnt, 'journal');
    const filler = join(mnt, 'filler');
    const seg = join(dir, '00000000000000000001.seg');
    j = await Journal.open({ dir });
    const fs = await statfs(mnt);
    await writeFile(filler, Buffer.alloc(fs.bavail * fs.bsize - 48 * 1024));

    const acked: Entry[] = [];
    let failure: unknown;
    for (let i = 1; i <= 2000 && failure === undefined; i++) {
      const entry = reading(i, 8);
      try {
        expect(await j.append([entry])).toBe(acked.length + 1);
        acked.push(entry);
      } catch (err) {
        failure = err;
      }
    }
    expect(acked.length).toBeGreaterThan(5);
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    expect(message).toBe(`journal write failed: no space left on device (ENOSPC) in ${dir}`);
    expect((failure as { code?: string }).code).toBe('ENOSPC');

    let st = j.status();
    expect(st.writable).toBe(false);
    expect(st.lastError).toBe(message);
    expect(st.durableLsn).toBe(acked.length);
    expect(st.lastLsn).toBe(acked.length);
    // The partial write was cut off again.
    expect((await stat(seg)).size).toBe(st.bytes);

    // Still full: the next append tries again and fails the same way.
    await expect(j.append([reading(5000, 8)])).rejects.toThrow(message);
    expect(j.status().writable).toBe(false);

    await rm(filler);
    const more = [reading(6000, 8), reading(6001, 8)];
    expect(await j.append(more)).toBe(acked.length + 2);
    acked.push(...more);
    st = j.status();
    expect(st.writable).toBe(true);
    expect(st.lastError).toBeUndefined();
    await j.close();
    j = undefined;

    const reopened = await Journal.open({ dir });
    try {
      expect(await readAll(reopened)).toEqual(acked.map((entry, i) => ({ lsn: i + 1, entry })));
    } finally {
      await reopened.close();
    }
  });
});
