// What the journal needs of the durable log under it: appends that resolve once fsync'd, reads
// from any retained LSN, a signal at each durable append, when entries became durable, and
// removal of what every consumer is past. `segment-log.ts` is the implementation; any other must
// pass tests/journal-contract.ts.
import type { Entry } from '../domain/reading.ts';

/** Consecutive entries; the first has LSN lastLsn - entries.length + 1. */
export interface Batch {
  entries: Entry[];
  lastLsn: number;
}

/** Reads entries in LSN order, never past the durable end. */
export interface EntryReader {
  /** The LSN the next read starts at. */
  readonly nextLsn: number;
  /** The next reads start at `lsn`. */
  seek(lsn: number): Promise<void>;
  /** Up to `max` consecutive durable entries from nextLsn (moving past what is no longer retained), or undefined when there are none yet. */
  read(max: number): Promise<Batch | undefined>;
  close(): Promise<void>;
}

export interface LogStatus {
  /** False from a failed write/fsync until the next successful one. */
  writable: boolean;
  /** The failure that made the log unwritable; absent while writable. */
  lastError?: string;
  /** LSN the newest accepted append gets once flushed (equals durableLsn when nothing is pending). */
  lastLsn: number;
  /** Highest LSN on disk and fsync'd. */
  durableLsn: number;
  segments: number;
  bytes: number;
  /** Durable writes done so far; with group commit, far fewer than appends. */
  flushes: number;
}

export interface EntryLog {
  /** Resolves with the LSN of the last entry once all of them are written and fsync'd. */
  append(entries: readonly Entry[]): Promise<number>;
  readonly durableLsn: number;
  /** The oldest LSN still retained; durableLsn + 1 while nothing is. */
  readonly oldestLsn: number;
  /** Resolves at the next durable append. */
  nextDurable(): Promise<void>;
  /** When the oldest durable entry after `lsn` became durable (ms); undefined when there is none. */
  durableAt(lsn: number): number | undefined;
  reader(fromLsn: number): EntryReader;
  /** Removes what it can of the entries up to `lsn`, which no consumer needs any more. */
  release(lsn: number): Promise<void>;
  status(): LogStatus;
  /** Refuses new appends, waits for those under way, and closes. */
  close(): Promise<void>;
}
