// The checks both stores make before writing and answering (hub/store/validate.ts), on their own.
// That both stores use them is held by the contract suite (store-contract.ts).
import { describe, expect, it } from 'vitest';
import type { Reading } from '../hub/domain/reading.ts';
import { StoreRefusal, type Aggregate } from '../hub/store/store.ts';
import {
  checkAggregate,
  checkEvery,
  checkLimit,
  checkMetric,
  checkScope,
  isEmptyRange,
  refuseUnwritable,
} from '../hub/store/validate.ts';

const good: Reading = { device: 'd1', metric: 'noise', ts: 1000, value: 50, zone: 'z1' };

describe('store checks', () => {
  it('admits metric names of the grammar, prototype keys among them, and refuses the rest by name', () => {
    for (const metric of ['noise', 'co2', 'toString', 'constructor', 'vibration_rms'])
      expect(checkMetric(metric)).toBe(metric);
    for (const metric of ['__proto__', '', 'noise level', 'noise"', 'noise\n', '/.*/', 'x'.repeat(65), 'lärm']) {
      expect(() => checkMetric(metric), metric).toThrow(`metric ${JSON.stringify(metric)} is not a valid metric name`);
    }
    expect(() => checkMetric(7 as unknown as string)).toThrow('metric 7 is not a valid metric name');
  });

  it('wants exactly one of device and zone', () => {
    expect(() => checkScope({ device: 'd1' })).not.toThrow();
    expect(() => checkScope({ zone: '' })).not.toThrow();
    expect(() => checkScope({})).toThrow('query needs exactly one of device or zone');
    expect(() => checkScope({ device: 'd1', zone: 'z1' })).toThrow('query needs exactly one of device or zone');
  });

  it('knows a range that holds nothing', () => {
    expect(isEmptyRange(1, 2)).toBe(false);
    expect(isEmptyRange(2, 2)).toBe(true);
    expect(isEmptyRange(3, 2)).toBe(true);
    expect(isEmptyRange(Number.NaN, 2)).toBe(true);
  });

  it('takes whole limits from 0 and whole windows from 1 ms', () => {
    expect(checkLimit(0)).toBe(0);
    expect(checkLimit(100_000)).toBe(100_000);
    for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])
      expect(() => checkLimit(limit)).toThrow(`limit ${limit} is not a non-negative integer`);
    expect(checkEvery(1)).toBe(1);
    for (const every of [0, -60_000, 0.5, Number.NaN])
      expect(() => checkEvery(every)).toThrow(`every ${every} is not a positive integer of ms`);
  });

  it('admits only the aggregates both stores compute, never a prototype key', () => {
    for (const agg of ['mean', 'min', 'max', 'last', 'laeq'] as const) expect(checkAggregate(agg)).toBe(agg);
    for (const agg of ['toString', '__proto__', 'constructor', 'sum', '']) {
      expect(() => checkAggregate(agg as Aggregate)).toThrow(
        `unknown aggregate ${JSON.stringify(agg)} (one of mean, min, max, last, laeq)`,
      );
    }
  });

  it('refuses a whole batch for good, naming the first reading that is not one', () => {
    expect(() => refuseUnwritable([good, { ...good, ts: 2000 }])).not.toThrow();
    const cases: [unknown, string][] = [
      [{ ...good, device: 'd 1' }, 'refusing reading: device "d 1" is not a valid id'],
      [{ ...good, zone: 'z1,zone=x' }, 'refusing reading: zone "z1,zone=x" is not a valid id'],
      [{ ...good, metric: '__proto__' }, 'refusing reading: metric "__proto__" is not a valid metric name'],
      [{ ...good, value: Number.NaN }, 'refusing reading: value NaN is not a finite number'],
      [{ ...good, value: '50' }, 'refusing reading: value of type string is not a finite number'],
      [{ ...good, ts: 1000.5 }, 'refusing reading: time 1000.5 is not a whole number of ms'],
      [null, 'refusing reading: is not a reading'],
    ];
    for (const [bad, message] of cases) {
      const err = (() => {
        try {
          refuseUnwritable([good, bad as Reading]);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, message).toBeInstanceOf(StoreRefusal);
      expect((err as Error).message).toBe(message);
    }
  });
});
