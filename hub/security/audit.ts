// The audit log: who did what, and when — acknowledgements, silences, device and token changes,
// and the open connections the hub closed because of them.
// One JSON line per action in {data_dir}/audit.log, appended and never rewritten.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
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

  /** Newest first. */
  list(options: { limit: number; action?: string }): AuditEntry[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const entries: AuditEntry[] = [];
    const lines = text.split('\n');
    for (let i = lines.length - 1; i >= 0 && entries.length < options.limit; i--) {
      const line = lines[i];
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as AuditEntry;
        if (options.action === undefined || entry.action === options.action) entries.push(entry);
      } catch {
        // A line torn by a crash mid-append is skipped; the rest of the log still reads.
      }
    }
    return entries;
  }
}
