// The duplicate filter on its own: which keys of a device it recognises, against a model of "the
// last 1,024 distinct keys of each device", whatever order they come in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DuplicateFilter, type ReadingKey } from '../hub/ingest/duplicates.ts';

describe('duplicate filter', () => {
  it('recognises exactly the last 1024 keys of each device, whatever order they come in', () => {
    const op = fc.record({
      device: fc.oneof({ arbitrary: fc.constant('a'), weight: 8 }, fc.constantFrom('b', '__proto__')),
      metric: fc.constantFrom('co2', 'toString', 'constructor'),
      byTime: fc.boolean(),
      // A new key mostly (rising, or back in time), else one sent before: some near the 1024th back.
      back: fc.oneof(
        { arbitrary: fc.constant(0), weight: 6 },
        fc.integer({ min: 1, max: 1100 }),
        fc.integer({ min: 1015, max: 1035 }),
      ),
      step: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 2 }), weight: 9 }, fc.integer({ min: -3000, max: -1 })),
      add: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, fc.constant(false)),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 2500, maxLength: 4000 }), (ops) => {
        const filter = new DuplicateFilter();
        // The model: per device, its last 1024 distinct keys, oldest first (a Set keeps insertion order).
        const model = new Map<string, Set<string>>();
        const added = new Map<string, Array<{ key: ReadingKey; name: string }>>();
        let n = 1_764_460_800_000;
        for (const { device, metric, byTime, back, step, add } of ops) {
          const history = added.get(device) ?? [];
          added.set(device, history);
          let chosen = history[history.length - back];
          if (back === 0 || !chosen) {
            n += step;
            const key: ReadingKey = byTime ? { metric, ts: n } : { metric, seq: n };
            chosen = { key, name: `${metric}/${byTime}/${n}` };
          }
          const kept = model.get(device) ?? new Set();
          expect(filter.has(device, chosen.key)).toBe(kept.has(chosen.name));
          if (!add) continue;
          filter.add(device, chosen.key);
          if (!kept.has(chosen.name)) history.push(chosen);
          kept.add(chosen.name);
          if (kept.size > 1024) kept.delete(kept.values().next().value!);
          model.set(device, kept);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('keeps recognising keys after a key that is not a number was offered', () => {
    const filter = new DuplicateFilter();
    filter.add('a', { metric: 'co2', ts: Number.NaN });
    filter.add('a', { metric: 'co2', ts: 5 });
    filter.add('a', { metric: 'co2', ts: Number.NaN });
    filter.add('a', { metric: 'co2', ts: 3 });
    expect([5, 3, 4].map((ts) => filter.has('a', { metric: 'co2', ts }))).toEqual([true, true, false]);
  });
});
