// The journal's segment files: the documented record format on disk, one durable write per group
// of appends, a torn or corrupt record found at start, and a full disk.
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import {
  appendFile,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  statfs,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../hub/domain/reading.ts';
import { Journal } from '../hub/journal/journal.ts';
import { collector, journalFixtures, logCapture, range, readAll, reading, segmentFiles } from './support/journal.ts';

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

/** The open flags of this process's descriptors on `path`, as /proc shows them. */
async function openFlags(path: string): Promise<number[]> {
  const flags: number[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) !== path) continue;
    const octal = /^flags:\s+(\d+)/m.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => ''))?.[1];
    if (octal !== undefined) flags.push(Number.parseInt(octal, 8));
  }
  return flags;
}

describe('journal segments', () => {
  const { tempDir, openJournal } = journalFixtures((options) => Journal.open(options));

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

  it('writes every segment with O_DSYNC, so a group is on disk when its one write returns', async () => {
    const dir = await realpath(await tempDir());
    const j = await openJournal({ dir, segmentBytes: 256 });
    const writers = async () => openFlags(join(dir, (await segmentFiles(dir)).at(-1) ?? ''));
    await j.append([reading(1)]);
    const first = await writers();
    for (let i = 2; i <= 6; i++) await j.append([reading(i)]);
    expect((await segmentFiles(dir)).length).toBeGreaterThan(1);
    const rolled = await writers();
    for (const flags of [first, rolled]) {
      expect(flags).toHaveLength(1);
      expect(flags[0]! & constants.O_DSYNC).toBe(constants.O_DSYNC);
    }
    // Each append its own group, each one write.
    expect(j.status().flushes).toBe(6);
  });

  const garbage: Array<[string, Buffer]> = [
    ['a partial header', Buffer.from([0x20, 0x00, 0x00])],
    ['a partial record', Buffer.concat([Buffer.from([100, 0, 0, 0, 1, 2, 3, 4]), Buffer.from('{"type":"readi')])],
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
