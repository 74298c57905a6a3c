// How long a hub whose rules terms cannot start waits before it asks for the lease again: one
// lease, doubling with each failure in a row, to 30 s or one lease if that is longer; a term that
// starts begins the count again. Its last problem is what health tells.
import { describe, expect, it } from 'vitest';
import { termStarts } from '../hub/cluster/term-starts.ts';

describe('rules terms that cannot start', () => {
  it('wait one lease, doubling to 30 s, and start over once a term starts', () => {
    const starts = termStarts(5000, () => 0);
    expect(starts.problem).toBeUndefined();
    expect([1, 2, 3, 4, 5].map((n) => starts.failed(`WRONGTYPE ${n}`))).toEqual([5000, 10_000, 20_000, 30_000, 30_000]);
    expect(starts.problem).toBe('WRONGTYPE 5');
    starts.succeeded();
    expect(starts.problem).toBeUndefined();
    expect(starts.failed('timed out')).toBe(5000);
  });

  it('wait at least one lease when the lease is longer than 30 s', () => {
    const starts = termStarts(60_000, () => 0);
    expect([starts.failed('a'), starts.failed('b')]).toEqual([60_000, 60_000]);
  });
});
