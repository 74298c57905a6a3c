// Readings a device took while it could not deliver them: bounded (the oldest go first when it is
// full), optionally kept in a file so they survive a power cycle. The file is one JSON reading a
// line, appended as readings arrive and emptied once everything has been delivered; a reading may
// appear in it twice (put back after a failed send), which the hub's duplicate check absorbs.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface TelemetryRecord {
  /** Device time of the measurement, ms since 1970. */
  ts: number;
  seq: number;
  values: Record<string, number>;
}

export class OfflineBuffer {
  private items: TelemetryRecord[] = [];
  private fileLines = 0;
  /** Readings dropped because the buffer was full. */
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly file?: string,
  ) {
    if (file && existsSync(file)) {
      const bySeq = new Map<number, TelemetryRecord>();
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          const record = JSON.parse(line) as TelemetryRecord;
          if (typeof record.ts === 'number' && typeof record.seq === 'number' && typeof record.values === 'object')
            bySeq.set(record.seq, record);
        } catch {
          // A line torn by a power cut mid-write: that reading was never complete.
        }
      }
      this.items = [...bySeq.values()].sort((a, b) => a.seq - b.seq).slice(-max);
      this.rewrite();
    }
  }

  get size(): number {
    return this.items.length;
  }

  /** The highest seq held, so a restarted device continues after it. */
  lastSeq(): number | undefined {
    return this.items.at(-1)?.seq;
  }

  push(record: TelemetryRecord): void {
    this.items.push(record);
    if (this.items.length > this.max) {
      this.items.shift();
      this.dropped++;
    }
    this.persist(record);
  }

  /** Puts back a reading whose delivery failed, to go first. */
  putBack(record: TelemetryRecord): void {
    this.items.unshift(record);
    if (this.items.length > this.max) {
      this.items.pop();
      this.dropped++;
    }
    this.persist(record);
  }

  shift(): TelemetryRecord | undefined {
    return this.items.shift();
  }

  /** Called once everything taken from the buffer has been acknowledged: the file starts over. */
  delivered(): void {
    if (this.items.length === 0 && this.file && this.fileLines > 0) this.rewrite();
  }

  private persist(record: TelemetryRecord): void {
    if (!this.file) return;
    appendFileSync(this.file, `${JSON.stringify(record)}\n`);
    this.fileLines++;
    // Keeps the file from growing without bound while the device stays offline.
    if (this.fileLines > 2 * this.max) this.rewrite();
  }

  private rewrite(): void {
    if (!this.file) return;
    writeFileSync(this.file, this.items.map((r) => `${JSON.stringify(r)}\n`).join(''));
    this.fileLines = this.items.length;
  }
}
