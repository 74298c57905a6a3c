// A metric's rolling window, against the plain arithmetic over the readings it holds: whatever the
// order readings come in, each aggregate reads exactly the buckets that start in (at − window, at].
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUCKET_MS, Window } from '../hub/rules/window.ts';

const T0 = 1_764_460_800_000;
const HOUR = 3_600_000;

describe('rolling window', () => {
  it('gives the mean, LAeq, max and rise of the readings in the window, late ones included', () => {
    const reading = fc.record({
      offset: fc.integer({ min: 0, max: 3 * HOUR }),
      value: fc.integer({ min: 20, max: 140 }),
    });
    const query = fc.record({
      // On bucket edges often: that is where a window's ends are tested.
      at: fc.oneof(
        fc.integer({ min: -HOUR, max: 4 * HOUR }),
        fc.integer({ min: -360, max: 1440 }).map((k) => k * BUCKET_MS),
      ),
      windowMs: fc.constantFrom(BUCKET_MS, 5 * 60_000, 15 * 60_000, HOUR, 2 * HOUR),
    });
    fc.assert(
      fc.property(
        fc.array(reading, { maxLength: 300 }),
        fc.array(query, { minLength: 1, maxLength: 10 }),
        (readings, queries) => {
          const w = new Window(HOUR);
          const held: Array<{ start: number; value: number }> = [];
          let newest = -Infinity;
          for (const { offset, value } of readings) {
            w.add(T0 + offset, value);
            const start = T0 + offset - (offset % BUCKET_MS);
            held.push({ start, value });
            newest = Math.max(newest, start);
            // What falls out of the span is gone for good.
            for (let i = held.length - 1; i >= 0; i--) if (held[i]!.start <= newest - HOUR) held.splice(i, 1);
          }
          for (const q of queries) {
            const at = T0 + q.at;
            const inside = held.filter((h) => h.start > at - q.windowMs && h.start <= at).map((h) => h.value);
            if (inside.length === 0) {
              expect([
                w.mean(at, q.windowMs),
                w.laeq(at, q.windowMs),
                w.max(at, q.windowMs),
                w.rise(at, q.windowMs, 50),
              ]).toEqual([undefined, undefined, undefined, undefined]);
              continue;
            }
            const mean = inside.reduce((s, v) => s + v, 0) / inside.length;
            const laeq = 10 * Math.log10(inside.reduce((s, v) => s + 10 ** (v / 10), 0) / inside.length);
            expect(w.mean(at, q.windowMs)).toBeCloseTo(mean, 9);
            expect(w.laeq(at, q.windowMs)).toBeCloseTo(laeq, 9);
            expect(w.max(at, q.windowMs)).toBe(Math.max(...inside));
            expect(w.rise(at, q.windowMs, 50)).toBe(50 - Math.min(...inside));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
