import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs, FailureRun } from '../hub/domain/backoff.ts';
import { retryAfterMs } from '../hub/notify/webhook.ts';
import { hostileName } from './support/hostile-names.ts';

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

describe('a receiver’s Retry-After', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');

  it('is read in seconds or as an HTTP date in any of its three forms, held to an hour', () => {
    expect(retryAfterMs(' 120 ', now)).toBe(120_000);
    expect(retryAfterMs('Tue, 01 Dec 2026 10:05:00 GMT', now)).toBe(300_000);
    expect(retryAfterMs('Tuesday, 01-Dec-26 10:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Tue Dec  1 10:00:10 2026', now)).toBe(10_000);
    // Past: now. Days ahead, or digits without end: an hour.
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(0);
    expect(retryAfterMs('99999999999999999999999', now)).toBe(3_600_000);
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('is ignored when it is neither, so the usual backoff holds', () => {
    for (const garbage of [
      'soon',
      '',
      '-5',
      '12.5',
      '1,5',
      '1e3',
      '0x10',
      'NaN',
      'Infinity',
      '__proto__',
      'constructor',
    ])
      expect(retryAfterMs(garbage, now), garbage).toBeUndefined();
    fc.assert(
      fc.property(fc.oneof(fc.string(), hostileName), (text) => {
        const ms = retryAfterMs(text, now);
        return ms === undefined || (ms >= 0 && ms <= 3_600_000);
      }),
    );
  });
});

describe('failures in a row', () => {
  it('say why the last failed and when the next try is due, doubling, until one succeeds', () => {
    let t = 0;
    const run = new FailureRun({ firstMs: 1000, maxMs: 4000 }, () => t);
    expect([run.problem, run.due()]).toEqual([undefined, false]);
    expect(run.failed('toString')).toBe(1000);
    expect([run.problem, run.due()]).toEqual(['toString', false]);
    t = 1000;
    expect(run.due()).toBe(true);
    expect([run.failed('__proto__'), run.failed('constructor')]).toEqual([2000, 4000]);
    t = 4999;
    expect(run.due()).toBe(false);
    t = 5000;
    expect([run.problem, run.due()]).toEqual(['constructor', true]);
    run.succeeded();
    expect([run.problem, run.due()]).toEqual([undefined, false]);
    expect(run.failed('again')).toBe(1000);
  });
});
