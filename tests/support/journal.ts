// What journal tests share: temp directories and journals closed after each test, entries with
// known contents, a consumer handler that records what it got and lets a test await a count, a
// latch, and a log a test can read.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Entry } from '../../hub/domain/reading.ts';
import type { Journal, JournalLogLevel, JournalOptions, JournalRecord } from '../../hub/journal/journal.ts';

/** Temp directories and journals for each test of the calling suite, closed and removed after it. */
export function journalFixtures(open: (options: JournalOptions) => Promise<Journal>): {
  tempDir: () => Promise<string>;
  openJournal: (options: JournalOptions) => Promise<Journal>;
  /** Runs before the journals close, e.g. to release a handler a failed test left blocked. */
  atCleanup: (fn: () => void) => void;
} {
  const tempDirs: string[] = [];
  const openJournals: Journal[] = [];
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    await Promise.all(openJournals.splice(0).map((j) => j.close()));
    await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return {
    async tempDir() {
      const dir = await mkdtemp(join(tmpdir(), 'floorwatch-journal-'));
      tempDirs.push(dir);
      return dir;
    },
    async openJournal(options) {
      const j = await open(options);
      openJournals.push(j);
      return j;
    },
    atCleanup: (fn) => void cleanups.push(fn),
  };
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Entry `i`: `readings` readings of devices dev-0, dev-1, …, their values and times telling `i`. */
export function reading(i: number, readings = 1): Entry {
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

/** A promise a test resolves when it chooses: to hold a handler, or to await a moment. */
export function latch(): { done: Promise<void>; release: () => void } {
  let release!: () => void;
  const done = new Promise<void>((r) => {
    release = r;
  });
  return { done, release };
}

export function logCapture(): {
  logs: Array<{ level: JournalLogLevel; msg: string; fields?: object }>;
  log: NonNullable<JournalOptions['log']>;
} {
  const logs: Array<{ level: JournalLogLevel; msg: string; fields?: object }> = [];
  return { logs, log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }) };
}

export async function readAll(j: Journal, from?: number): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const r of j.readAll(from)) out.push(r);
  return out;
}

/** A consumer handler that records what it got and lets a test await a count. */
export function collector() {
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

/** A journal directory's segment files, oldest first. */
export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.seg')).sort();
}
