// A small JSON file of named records (device credentials, API tokens) that the command line
// changes while the hub runs: the hub re-reads it whenever it changed on disk, and writes go
// through a rename so a reader never sees half a file. Owner-only permissions: it holds hashes.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class RecordFile<T> {
  private records = new Map<string, T>();
  private loadedStamp = '';

  constructor(readonly path: string) {}

  /** The records as they are on disk now. */
  all(): Map<string, T> {
    let stamp = 'absent';
    try {
      const stat = statSync(this.path);
      stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (stamp !== this.loadedStamp) {
      this.records = stamp === 'absent' ? new Map<string, T>() : this.read();
      this.loadedStamp = stamp;
    }
    return this.records;
  }

  get(name: string): T | undefined {
    return this.all().get(name);
  }

  /** Applies a change to the current records and saves them. */
  update(change: (records: Map<string, T>) => void): void {
    const records = new Map(this.all());
    change(records);
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(Object.fromEntries(records), null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, this.path);
    this.loadedStamp = '';
  }

  private read(): Map<string, T> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (err) {
      throw new Error(
        `${this.path} cannot be read (${(err as Error).message}): restore it from a backup or remove it and issue new secrets`,
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error(`${this.path} must hold a JSON object of records`);
    return new Map(Object.entries(parsed as Record<string, T>));
  }
}
