// The rules leader's handling of an entry the rules fail on (pure): the batch fails, the entries
// are then applied one at a time, the one that fails is told and skipped for the rest of the term,
// and whole batches come back once a read goes through.
import { describe, expect, it } from 'vitest';
import { FailedEntries } from '../hub/cluster/failed-entries.ts';
import type { Entry } from '../hub/domain/reading.ts';
import { reading } from './support/journal.ts';

const entries = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ lsn: from + i, entry: reading(from + i) }));

describe('entries the rules fail on', () => {
  it('finds the one that fails one at a time, passes over it for the term, and goes back to batches', () => {
    const told: Array<[string, number, string]> = [];
    const failed = new FailedEntries((node, lsn, why) => told.push([node, lsn, why]));
    const calls: Array<[number[], number]> = [];
    const apply = (batch: Entry[], last: number) => {
      const lsns = batch.map((e) => (e.type === 'readings' ? e.readings[0]!.ts - 1_700_000_000_000 : 0));
      calls.push([lsns, last]);
      if (lsns.includes(3)) throw new Error('cannot take entry 3');
    };
    const moved: Array<[number, number]> = [];
    const move = (at: number, reached: number) => moved.push([at, reached]);

    // The batch fails: nothing is applied, nothing told.
    expect(() => failed.apply('hub-b', entries(1, 5), 10, apply, move)).toThrow('cannot take entry 3');
    expect(told).toEqual([]);
    // Read again: one at a time; 1 and 2 are applied, 3 is told and the failure thrown again.
    expect(() => failed.apply('hub-b', entries(1, 5), 10, apply, move)).toThrow('cannot take entry 3');
    expect(moved).toEqual([
      [11, 1],
      [12, 2],
    ]);
    expect(told).toEqual([['hub-b', 3, 'the rules failed on it (cannot take entry 3)']]);
    // Read again from after 2: 3 is skipped, the others applied one at a time.
    expect(failed.apply('hub-b', entries(3, 5), 12, apply, move)).toBe(14);
    expect(moved.slice(2)).toEqual([
      [13, 4],
      [14, 5],
    ]);
    // The same LSN from another hub is another entry.
    expect(() => failed.apply('hub-c', entries(3, 3), 14, apply, move)).toThrow();
    failed.wentThrough();
    calls.length = 0;
    expect(failed.apply('hub-b', entries(6, 8), 14, apply, move)).toBe(17);
    expect(calls).toEqual([[[6, 7, 8], 17]]);
    expect(told).toHaveLength(2);
  });
});
