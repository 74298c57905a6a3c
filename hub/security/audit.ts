// The audit log: who did what, and when — acknowledgements, silences, device and token changes,
// and the open connections the hub closed because of them.
// One JSON line per action in {data_dir}/audit.log, appended and never rewritten.
import { appendFileSync, mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { jsonObject } from '../domain/json-text.ts';

export interface AuditEntry {
  at: number;
  /** The token name, "cli:<os user>", "anonymous" on an open hub, or "hub" for what the hub did itself. */
  who: string;
  /** e.g. alert.ack, silence.create, device.add, token.revoke, connection.close */
  action: string;
  details: Record<string, unknown>;
}

export type Audit = (who: string, action: string, details?: Record<string, unknown>) => void;

export class AuditLog {
  readonly path: string;

  constructor(
    dataDir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.path = join(dataDir, 'audit.log');
  }

  /** Bound, so callers can pass it around as a plain function. */
  readonly record: Audit = (who, action, details = {}) => {
    const entry: AuditEntry = { at: this.now(), who, action, details };
    mkdirSync(dirname(this.path), { recursive: true });
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  };

  /**
   * Newest first. Read from the end in chunks, as far back as the entries asked for go: the log is
   * never rewritten, and after years of a site's actions it is larger than any one string may be.
   * Each chunk is read without holding the hub: an action no entry has is looked for to the start.
   */
  async list(options: { limit: number; action?: string }): Promise<AuditEntry[]> {
    let file: FileHandle;
    try {
      file = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      const entries: AuditEntry[] = [];
      if (options.limit <= 0) return entries;
      // As the hub writes it: a line without it is not parsed.
      const mark = options.action === undefined ? undefined : `"action":${JSON.stringify(options.action)}`;
      for await (const line of linesBackwards(file)) {
        if (mark === undefined || line.includes(mark)) {
          // A line torn by a crash mid-append, or of another shape, is passed over; the rest still reads.
          const entry = entryOf(line);
          if (entry && (options.action === undefined || entry.action === options.action)) entries.push(entry);
        }
        // Before the next line is looked for: it may be far back.
        if (entries.length >= options.limit) break;
      }
      return entries;
    } finally {
      await file.close();
    }
  }
}

/** An entry as the hub writes them, or undefined. */
function entryOf(line: string): AuditEntry | undefined {
  const e = jsonObject(line);
  if (
    e === undefined ||
    typeof e.at !== 'number' ||
    !Number.isFinite(e.at) ||
    typeof e.who !== 'string' ||
    typeof e.action !== 'string' ||
    typeof e.details !== 'object' ||
    e.details === null ||
    Array.isArray(e.details)
  )
    return undefined;
  return e as unknown as AuditEntry;
}

const CHUNK_BYTES = 64 * 1024;
/** Longer than any entry the hub writes: what is longer is no entry, and is passed over unread. */
const MAX_LINE_BYTES = 1024 * 1024;

/** The file's lines, last first, read backwards a chunk at a time. */
async function* linesBackwards(file: FileHandle): AsyncGenerator<string> {
  let end = (await file.stat()).size;
  /** The end of a line whose start is not read yet, and its length so far. */
  let carry: Buffer[] = [];
  let carried = 0;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK_BYTES);
    const chunk = Buffer.alloc(end - start);
    await file.read(chunk, 0, chunk.length, start);
    end = start;
    let to = chunk.length;
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (chunk[i] !== 0x0a) continue;
      const length = to - (i + 1) + carried;
      if (length > 0 && length <= MAX_LINE_BYTES)
        yield Buffer.concat([chunk.subarray(i + 1, to), ...carry]).toString('utf8');
      carry = [];
      carried = 0;
      to = i;
    }
    carried += to;
    // A line past the bound is dropped as it is read, not gathered.
    carry = carried > MAX_LINE_BYTES ? [] : [chunk.subarray(0, to), ...carry];
  }
  if (carried > 0 && carried <= MAX_LINE_BYTES) yield Buffer.concat(carry).toString('utf8');
}
