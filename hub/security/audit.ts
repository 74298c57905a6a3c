// The audit log: who did what, and when — acknowledgements, silences, device and token changes,
// and the open connections the hub closed because of them.
// One JSON line per action in {data_dir}/audit.log, appended and never rewritten.
import { appendFileSync, closeSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';

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
   */
  list(options: { limit: number; action?: string }): AuditEntry[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      const entries: AuditEntry[] = [];
      if (options.limit <= 0) return entries;
      for (const line of linesBackwards(fd)) {
        try {
          const entry = JSON.parse(line) as AuditEntry;
          if (options.action === undefined || entry.action === options.action) entries.push(entry);
        } catch {
          // A line torn by a crash mid-append is skipped; the rest of the log still reads.
        }
        // Before the next line is looked for: it may be far back.
        if (entries.length >= options.limit) break;
      }
      return entries;
    } finally {
      closeSync(fd);
    }
  }
}

const CHUNK_BYTES = 64 * 1024;
/** Longer than any entry the hub writes: what is longer is no entry, and is passed over unread. */
const MAX_LINE_BYTES = 1024 * 1024;

/** The file's lines, last first, read backwards a chunk at a time. */
function* linesBackwards(fd: number): Generator<string> {
  let end = fstatSync(fd).size;
  /** The end of a line whose start is not read yet, and its length so far. */
  let carry: Buffer[] = [];
  let carried = 0;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK_BYTES);
    const chunk = Buffer.alloc(end - start);
    readSync(fd, chunk, 0, chunk.length, start);
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
