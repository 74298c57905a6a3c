// The journal's on-disk format and how it is written, read back in large chunks, and recovered
// after a crash.
//   NNNNNNNNNNNNNNNNNNNN.seg  records, the file named after its first LSN (20 digits)
// A record is: u32 LE payload length, u32 LE crc32 of the payload, the payload (UTF-8 JSON of an Entry).
// LSNs are not stored: a record's LSN is its segment's first LSN plus its index in the segment.
import { open, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { crc32 } from 'node:zlib';
import type { Entry } from '../domain/reading.ts';
import type { Batch } from './entry-log.ts';
import { entryJson } from './entry-json.ts';

export type JournalLogLevel = 'info' | 'warn' | 'error';
export type JournalLog = (level: JournalLogLevel, msg: string, fields?: object) => void;

/** A journal failure; `code` is the errno code (ENOSPC, EIO, ...) when there is one. */
export class JournalError extends Error {
  override readonly name = 'JournalError';
  readonly code: string | undefined;

  constructor(message: string, code?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

const HEADER_BYTES = 8;
/** Sanity bound on a record: a larger length in a header means corruption, not data. */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const SEGMENT_FILE = /^(\d{20})\.seg$/;

export interface Segment {
  firstLsn: number;
  path: string;
  /** Bytes of durable, valid records; anything beyond is not part of the journal. */
  size: number;
  /** firstLsn - 1 while empty. */
  lastLsn: number;
}

/** Buffered reads of one file: large chunks, records parsed from memory. */
class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);

  /** `pos` is the file offset of the first unconsumed byte. */
  constructor(
    private readonly fh: FileHandle,
    public pos: number,
  ) {}

  /** Bytes buffered from `pos`: callers check this first to skip an await per record. */
  get buffered(): number {
    return this.buf.length;
  }

  /** Makes `n` bytes from `pos` available without reading past `limit`; false if there are fewer. */
  async ensure(n: number, limit: number): Promise<boolean> {
    if (this.buf.length >= n) return true;
    const from = this.pos + this.buf.length;
    if (this.pos + n > limit) return false;
    const want = Math.min(Math.max(READ_CHUNK_BYTES, n - this.buf.length), limit - from);
    const chunk = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(chunk, got, want - got, from + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const data = chunk.subarray(0, got);
    this.buf = this.buf.length > 0 ? Buffer.concat([this.buf, data]) : data;
    return this.buf.length >= n;
  }

  u32(offset: number): number {
    return this.buf.readUInt32LE(offset);
  }

  view(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  skip(n: number): void {
    this.buf = this.buf.subarray(n);
    this.pos += n;
  }
}

/** Reads entries from `nextLsn` on across segments, never past the durable end. */
export class Cursor {
  private seg: Segment | undefined;
  private fh: FileHandle | undefined;
  private reader: ChunkReader | undefined;
  /** LSN of the record at reader.pos. */
  private segLsn = 0;

  constructor(
    private readonly segments: () => readonly Segment[],
    public nextLsn: number,
  ) {}

  /** Up to `max` entries from one segment, or undefined when nothing durable is left. */
  async read(max: number): Promise<Batch | undefined> {
    try {
      return await this.readInner(max);
    } catch (err) {
      // Re-seek from nextLsn on the next call.
      await this.close();
      throw err;
    }
  }

  private async readInner(max: number): Promise<Batch | undefined> {
    for (;;) {
      if (!this.seg) {
        const found = this.locate();
        if (!found) return undefined;
        if (!(await this.openSegment(found))) continue;
      }
      const seg = this.seg!;
      const reader = this.reader!;
      // Size and last LSN change together after each fsync: read them together.
      const lastLsn = seg.lastLsn;
      const limit = seg.size;
      if (this.nextLsn > lastLsn) {
        // Once a later segment exists, this one is sealed and fully read.
        if (!this.segments().some((s) => s.firstLsn > seg.firstLsn)) return undefined;
        await this.close();
        continue;
      }
      const entries: Entry[] = [];
      let last = 0;
      while (entries.length < max && this.segLsn <= lastLsn) {
        if (reader.buffered < HEADER_BYTES && !(await reader.ensure(HEADER_BYTES, limit))) {
          throw corrupt(seg, reader.pos, 'truncated header');
        }
        const len = reader.u32(0);
        const sum = reader.u32(4);
        if (len === 0 || len > MAX_RECORD_BYTES) throw corrupt(seg, reader.pos, `bad length ${len}`);
        if (reader.buffered < HEADER_BYTES + len && !(await reader.ensure(HEADER_BYTES + len, limit))) {
          throw corrupt(seg, reader.pos, 'truncated record');
        }
        if (this.segLsn >= this.nextLsn) {
          const payload = reader.view(HEADER_BYTES, HEADER_BYTES + len);
          if (crc32(payload) !== sum) throw corrupt(seg, reader.pos, 'checksum mismatch');
          entries.push(JSON.parse(payload.toString('utf8')) as Entry);
          last = this.segLsn;
        }
        reader.skip(HEADER_BYTES + len);
        this.segLsn += 1;
      }
      if (entries.length > 0) {
        this.nextLsn = last + 1;
        return { entries, lastLsn: last };
      }
    }
  }

  /** The segment holding nextLsn, or the next one after it (skipping what is no longer there). */
  private locate(): Segment | undefined {
    const segs = this.segments();
    const found = segs.find((s) => s.lastLsn >= this.nextLsn) ?? segs.at(-1);
    if (found && found.firstLsn > this.nextLsn) this.nextLsn = found.firstLsn;
    return found;
  }

  private async openSegment(seg: Segment): Promise<boolean> {
    try {
      this.fh = await open(seg.path, 'r');
    } catch (err) {
      // Removed since it was listed (readAll racing retention): its entries are gone, move on.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && seg !== this.segments().at(-1)) {
        this.nextLsn = Math.max(this.nextLsn, seg.lastLsn + 1);
        return false;
      }
      throw new JournalError(`journal read failed: ${describeError(err)} in ${seg.path}`, undefined, err);
    }
    this.seg = seg;
    this.reader = new ChunkReader(this.fh, 0);
    this.segLsn = seg.firstLsn;
    return true;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    this.seg = undefined;
    this.reader = undefined;
    await fh?.close().catch(() => {});
  }
}

function corrupt(seg: Segment, offset: number, what: string): JournalError {
  return new JournalError(`journal corrupt: ${what} at byte ${offset} of ${seg.path}`);
}

interface ScanResult {
  validBytes: number;
  count: number;
  fileSize: number;
  problem?: string;
}

/** Counts the valid records at the start of a segment; stops at the first bad one. */
async function scanSegment(path: string): Promise<ScanResult> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const reader = new ChunkReader(fh, 0);
    let count = 0;
    const result = (problem?: string): ScanResult => ({
      validBytes: reader.pos,
      count,
      fileSize,
      ...(problem === undefined ? {} : { problem }),
    });
    while (reader.pos < fileSize) {
      if (!(await reader.ensure(HEADER_BYTES, fileSize))) return result('partial record header');
      const len = reader.u32(0);
      // A zero length is rejected too: a zero-filled tail would otherwise pass (crc32 of nothing is 0).
      if (len === 0 || len > MAX_RECORD_BYTES) return result(`bad record length ${len}`);
      if (!(await reader.ensure(HEADER_BYTES + len, fileSize))) return result('partial record');
      if (crc32(reader.view(HEADER_BYTES, HEADER_BYTES + len)) !== reader.u32(4)) return result('checksum mismatch');
      reader.skip(HEADER_BYTES + len);
      count += 1;
    }
    return result();
  } finally {
    await fh.close();
  }
}

export async function recoverSegments(dir: string, log: JournalLog): Promise<Segment[]> {
  const files = (await readdir(dir))
    .map((name) => ({ name, m: SEGMENT_FILE.exec(name) }))
    .filter((f): f is { name: string; m: RegExpExecArray } => f.m !== null)
    .map((f) => ({ path: join(dir, f.name), firstLsn: Number(f.m[1]) }))
    .sort((a, b) => a.firstLsn - b.firstLsn);

  const segments: Segment[] = [];
  for (const [i, file] of files.entries()) {
    const prev = segments.at(-1);
    if (prev && file.firstLsn <= prev.lastLsn) {
      throw new Error(
        `journal segments overlap: ${file.path} starts at LSN ${file.firstLsn} but ${prev.path} ends at ${prev.lastLsn}`,
      );
    }
    if (prev && file.firstLsn !== prev.lastLsn + 1) {
      log('warn', 'journal: entries missing between segments', {
        after: prev.path,
        missingFrom: prev.lastLsn + 1,
        missingTo: file.firstLsn - 1,
      });
    }
    const scan = await scanSegment(file.path);
    const isLast = i === files.length - 1;
    if (scan.problem !== undefined) {
      const fields = {
        segment: file.path,
        problem: scan.problem,
        at: scan.validBytes,
        droppedBytes: scan.fileSize - scan.validBytes,
        lastGoodLsn: file.firstLsn + scan.count - 1,
      };
      if (isLast) {
        // An interrupted flush: those bytes were never acknowledged.
        const fh = await open(file.path, 'r+');
        try {
          await fh.truncate(scan.validBytes);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        log('warn', 'journal: truncated an incomplete record at the end of the journal', fields);
      } else {
        // Later segments hold acknowledged entries: keep them and skip the rest of this one.
        log(
          'warn',
          'journal: corrupt record in an older segment; the entries after it in that segment are lost',
          fields,
        );
      }
    }
    segments.push({
      firstLsn: file.firstLsn,
      path: file.path,
      size: scan.validBytes,
      lastLsn: file.firstLsn + scan.count - 1,
    });
  }
  return segments;
}

/** Each entry as the JSON its record will hold; refuses what cannot be written. */
export function serialise(entries: readonly Entry[]): string[] {
  const texts: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const json = entryJson(entries[i]!);
    if (typeof json !== 'string') throw new JournalError(`journal append refused: entry ${i} is not JSON-serialisable`);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long text needs measuring.
    const bytes = json.length * 3 > MAX_RECORD_BYTES ? Buffer.byteLength(json) : 0;
    if (bytes > MAX_RECORD_BYTES)
      throw new JournalError(`journal append refused: entry ${i} is ${bytes} bytes (at most ${MAX_RECORD_BYTES})`);
    texts.push(json);
  }
  return texts;
}

/**
 * Encodes a group commit's records into one buffer, reused from one flush to the next (a flush
 * writes it before the next one starts): one allocation per group rather than per entry.
 */
export class RecordEncoder {
  private static readonly USUAL_BYTES = 1024 * 1024;
  private buffer = Buffer.allocUnsafe(RecordEncoder.USUAL_BYTES);

  encode(groups: ReadonlyArray<readonly string[]>): Buffer {
    // One huge entry should not keep a huge buffer alive for good.
    if (this.buffer.length > 16 * RecordEncoder.USUAL_BYTES)
      this.buffer = Buffer.allocUnsafe(RecordEncoder.USUAL_BYTES);
    let off = 0;
    for (const texts of groups) {
      for (const text of texts) {
        // Worst case for the text, so the write below never runs out of room.
        this.reserve(off + HEADER_BYTES + text.length * 3);
        const length = this.buffer.write(text, off + HEADER_BYTES);
        this.buffer.writeUInt32LE(length, off);
        this.buffer.writeUInt32LE(
          crc32(this.buffer.subarray(off + HEADER_BYTES, off + HEADER_BYTES + length)),
          off + 4,
        );
        off += HEADER_BYTES + length;
      }
    }
    return this.buffer.subarray(0, off);
  }

  private reserve(bytes: number): void {
    if (bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, this.buffer.length * 2));
    this.buffer.copy(grown);
    this.buffer = grown;
  }
}

export async function writeFully(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await fh.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

export function segmentPath(dir: string, firstLsn: number): string {
  return join(dir, `${String(firstLsn).padStart(20, '0')}.seg`);
}

/** "no space left on device (ENOSPC)" rather than Node's "ENOSPC: no space left on device, write". */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException;
  if (typeof e.errno === 'number') {
    const known = getSystemErrorMap().get(e.errno);
    if (known) return `${known[1]} (${known[0]})`;
  }
  return e.message;
}
