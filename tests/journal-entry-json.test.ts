// A readings entry's record is written field by field rather than by JSON.stringify: it must read
// back as the same entry, and anything that is not a plain reading must be written as JSON.stringify
// writes it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry, Reading } from '../hub/domain/reading.ts';
import { entryJson } from '../hub/journal/entry-json.ts';
import { hostileName } from './support/hostile-names.ts';

const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
const number = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constant(-0));
const reading: fc.Arbitrary<Reading> = fc.record(
  {
    device: fc.oneof(id, fc.constantFrom('__proto__', 'constructor', 'toString')),
    metric: fc.oneof(id, fc.constantFrom('__proto__', 'toString')),
    value: number,
    ts: fc.integer({ min: 0, max: 8.64e15 }),
    zone: fc.oneof(fc.constant(''), id),
    unknownMetric: fc.constant(true as const),
    seq: fc.nat(),
    uncalibrated: number,
  },
  { requiredKeys: ['device', 'metric', 'value', 'ts', 'zone'] },
);

/** What the record must read back as: the entry as JSON.stringify would have written it. */
const asStringified = (entry: unknown): unknown => JSON.parse(JSON.stringify(entry));

describe('journal record text of an entry', () => {
  it('reads back as the same entry for any plain readings', () => {
    fc.assert(
      fc.property(fc.array(reading, { maxLength: 5 }), (readings) => {
        const entry: Entry = { type: 'readings', readings };
        const text = entryJson(entry);
        expect(typeof text).toBe('string');
        expect(JSON.parse(text as string)).toEqual(asStringified(entry));
      }),
    );
  });

  it('keeps the bridge a readings entry came in through, whatever its name', () => {
    fc.assert(
      fc.property(fc.array(reading, { maxLength: 3 }), fc.oneof(id, hostileName), (readings, bridge) => {
        const entry: Entry = { type: 'readings', readings, bridge };
        expect(JSON.parse(entryJson(entry) as string)).toEqual(asStringified(entry));
      }),
    );
  });

  it('writes what is not a plain reading as JSON.stringify does: quotes escaped, NaN as null', () => {
    const odd: unknown[] = [
      { device: 'a"b', metric: 'co2', value: 1, ts: 1, zone: '' },
      { device: 'a\\b', metric: 'co2', value: 1, ts: 1, zone: 'z\n' },
      { device: 'a', metric: 'co2', value: Number.NaN, ts: 1, zone: '' },
      { device: 'a', metric: 'co2', value: 1, ts: Number.POSITIVE_INFINITY, zone: '' },
      { device: 'a', metric: 'co2', value: '1', ts: 1, zone: '' },
      { device: 'a', metric: 'co2', value: 1, ts: 1, zone: '', seq: '7' },
      { device: 'a', metric: 'co2', value: 1, ts: 1, zone: '', unknownMetric: false },
      { device: 'a', metric: 'co2', value: 1, ts: 1, zone: '', uncalibrated: null },
      { device: 42, metric: 'co2', value: 1, ts: 1, zone: '' },
      null,
      'reading',
    ];
    for (const r of odd) {
      const entry = { type: 'readings', readings: [{ device: 'ok', metric: 'co2', value: 2, ts: 2, zone: '' }, r] };
      expect(JSON.parse(entryJson(entry as Entry) as string)).toEqual(asStringified(entry));
    }
    // A field that answers differently each time it is read: what is checked is what is written.
    let reads = 0;
    const changing = {
      get device() {
        reads += 1;
        return reads === 1 ? 'ok' : 'a"b';
      },
      metric: 'co2',
      value: 1,
      ts: 1,
      zone: '',
    };
    const text = entryJson({ type: 'readings', readings: [changing] } as unknown as Entry) as string;
    expect(JSON.parse(text)).toEqual({
      type: 'readings',
      readings: [{ device: 'ok', metric: 'co2', value: 1, ts: 1, zone: '' }],
    });
    fc.assert(
      fc.property(hostileName, hostileName, (device, zone) => {
        const entry = { type: 'readings', readings: [{ device, metric: 'co2', value: 1, ts: 1, zone }] } as Entry;
        expect(JSON.parse(entryJson(entry) as string)).toEqual(asStringified(entry));
      }),
    );
  });

  it('writes every other kind of entry as JSON.stringify does', () => {
    const entries = [
      { type: 'status', status: { subject: 'device', id: 'p-1', zone: '', status: 'online', ts: 5 } },
      { type: 'forgotten', forgotten: { device: 'p-1', by: 'li "wei"', at: 9 } },
      { type: 'readings', readings: 'not a list' },
    ];
    for (const entry of entries) expect(entryJson(entry as Entry)).toBe(JSON.stringify(entry));
    expect(entryJson((() => 1) as unknown as Entry)).toBeUndefined();
    expect(() => entryJson({ type: 'heartbeat', heartbeat: { n: 1n } } as unknown as Entry)).toThrow(/BigInt/);
  });
});
