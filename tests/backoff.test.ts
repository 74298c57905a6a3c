import { describe, expect, it } from 'vitest';
import { backoffMs } from '../hub/domain/backoff.ts';

describe('the wait before a retry', () => {
  it('doubles from the first wait up to the cap', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7].map((retry) => backoffMs(retry, { firstMs: 100, maxMs: 3000 }));
    expect(waits).toEqual([100, 200, 400, 800, 1600, 3000, 3000]);
  });

  it('with jitter, waits within the upper part of each step, spread by the random source', () => {
    const backoff = { firstMs: 1000, maxMs: 60_000, jitter: 0.5 };
    expect(backoffMs(3, backoff, () => 0)).toBe(4000);
    expect(backoffMs(3, backoff, () => 0.999)).toBeCloseTo(2002, 0);
    expect(backoffMs(10, backoff, () => 0.5)).toBe(45_000);
  });

  it('takes a retry count below one as the first retry', () => {
    expect(backoffMs(0, { firstMs: 250, maxMs: 10_000 })).toBe(250);
  });
});
