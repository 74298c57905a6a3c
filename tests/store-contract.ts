// The suite every Store backend must pass, so InfluxDB and SQLite give the same answers for the
// same data. Expected numbers are computed here from the readings, never by asking a store.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { METRIC_PATTERN, METRICS, type Reading } from '../hub/domain/reading.ts';
import { StoreRefusal, type Aggregate, type AlertRecord, type SeriesPoint, type Store } from '../hub/store/store.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
// Recent enough for any raw retention, hour-aligned so 15-minute windows line up with it.
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
const END = BASE + 6 * HOUR;

function reading(device: string, metric: string, ts: number, value: number, zone = 'z1'): Reading {
  return { device, metric, ts, value, zone };
}

/** Independent reference for every aggregate over a list of values in time order. */
function aggregate(agg: Aggregate, values: readonly number[]): number {
  switch (agg) {
    case 'mean':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'min':
      return Math.min(...values);
    case 'max':
      return Math.max(...values);
    case 'last':
      return values[values.length - 1]!;
    case 'laeq':
      return 10 * Math.log10(values.reduce((a, v) => a + 10 ** (v / 10), 0) / values.length);
  }
}

/** Windows of `every` ms aligned to the epoch, only those holding readings, in time order. */
function expectedWindows(
  readings: readonly Reading[],
  from: number,
  to: number,
  every: number,
  agg: Aggregate,
): SeriesPoint[] {
  const byWindow = new Map<number, Reading[]>();
  for (const r of readings) {
    if (r.ts < from || r.ts >= to) continue;
    const start = r.ts - (((r.ts % every) + every) % every);
    const list = byWindow.get(start) ?? [];
    list.push(r);
    byWindow.set(start, list);
  }
  return [...byWindow.entries()]
    .sort(([a], [b]) => a - b)
    .map(([ts, rs]) => ({
      ts,
      value: aggregate(
        agg,
        rs.sort((a, b) => a.ts - b.ts).map((r) => r.value),
      ),
    }));
}

function expectClose(actual: SeriesPoint[], expected: SeriesPoint[]): void {
  expect(actual.map((p) => p.ts)).toEqual(expected.map((p) => p.ts));
  actual.forEach((p, i) => expect(p.value).toBeCloseTo(expected[i]!.value, 6));
}

const AGGS: readonly Aggregate[] = ['mean', 'min', 'max', 'last', 'laeq'];

/** Ids of the grammar, and among them the names every object answers to. */
const anyId = fc.oneof(
  fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'a', '0', 'A.b_c-d'),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
);
const anyMetric = fc.oneof(
  fc.constantFrom(...METRICS.keys(), 'constructor', 'toString', 'time', 'select', 'value'),
  // Any name of the grammar but the two a JSON payload keeps for a reading's time and sequence.
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,63}$/).filter((name) => METRIC_PATTERN.test(name)),
);
/** Every finite double; -0 is written as 0 by InfluxDB's line protocol, so it is left to other tests. */
const anyValue = fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));
const SLOT = 10 * MINUTE;

export function describeStoreContract(
  name: string,
  makeStore: () => Promise<Store>,
  cleanup?: (store: Store) => Promise<void>,
): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await makeStore();
      await store.init();
    });

    afterEach(async () => {
      await store.close();
      await cleanup?.(store);
    });

    it('init is idempotent', async () => {
      await store.init();
      await store.init();
      await store.write([reading('d1', 'noise', BASE, 50)]);
      expect(await store.count({ device: 'd1', from: BASE, to: END })).toBe(1);
    });

    it('reports itself healthy', async () => {
      const h = await store.health();
      expect(h.ok).toBe(true);
      expect(h.detail).not.toBe('');
    });

    it('round-trips raw readings with values, timestamps and device, in time order', async () => {
      await store.write([
        reading('d1', 'temperature', BASE + 3000, 22.75),
        reading('d1', 'temperature', BASE + 1000, 21.5),
        reading('d1', 'temperature', BASE + 2000, -3.125),
        reading('d1', 'humidity', BASE + 1000, 40),
        reading('d2', 'temperature', BASE + 1500, 30),
      ]);
      await store.write([]);
      const points = await store.query({ device: 'd1', metric: 'temperature', from: BASE, to: END });
      expect(points).toEqual([
        { ts: BASE + 1000, value: 21.5, device: 'd1' },
        { ts: BASE + 2000, value: -3.125, device: 'd1' },
        { ts: BASE + 3000, value: 22.75, device: 'd1' },
      ]);
    });

    it('keeps the value a sensor reported beside its calibrated one', async () => {
      await store.write([
        { ...reading('d1', 'noise_db', BASE + 1000, 51.5), uncalibrated: 50.25 },
        reading('d1', 'noise_db', BASE + 2000, 49),
      ]);
      expect(await store.query({ device: 'd1', metric: 'noise_db', from: BASE, to: END })).toEqual([
        { ts: BASE + 1000, value: 51.5, device: 'd1', uncalibrated: 50.25 },
        { ts: BASE + 2000, value: 49, device: 'd1' },
      ]);
      // What is aggregated is the calibrated value.
      expect(await store.query({ device: 'd1', metric: 'noise_db', from: BASE, to: END, agg: 'max' })).toEqual([
        { ts: BASE, value: 51.5 },
      ]);
    });

    it('keeps one reading per (device, metric, ts), the later value winning', async () => {
      await store.write([reading('d1', 'co2', BASE + 5000, 600)]);
      await store.write([reading('d1', 'co2', BASE + 5000, 650)]);
      // Within one batch too.
      await store.write([reading('d1', 'co2', BASE + 6000, 700), reading('d1', 'co2', BASE + 6000, 710)]);
      expect(await store.count({ device: 'd1', metric: 'co2', from: BASE, to: END })).toBe(2);
      expect(await store.query({ device: 'd1', metric: 'co2', from: BASE, to: END })).toEqual([
        { ts: BASE + 5000, value: 650, device: 'd1' },
        { ts: BASE + 6000, value: 710, device: 'd1' },
      ]);
    });

    it('queries a zone across its devices', async () => {
      const rs = [
        reading('d1', 'noise', BASE + 1000, 60, 'z1'),
        reading('d2', 'noise', BASE + 2000, 70, 'z1'),
        reading('d1', 'noise', BASE + 3000, 62, 'z1'),
        reading('d3', 'noise', BASE + 1500, 90, 'z2'),
      ];
      await store.write(rs);
      expect(await store.query({ zone: 'z1', metric: 'noise', from: BASE, to: END })).toEqual([
        { ts: BASE + 1000, value: 60, device: 'd1' },
        { ts: BASE + 2000, value: 70, device: 'd2' },
        { ts: BASE + 3000, value: 62, device: 'd1' },
      ]);
      const z1 = rs.filter((r) => r.zone === 'z1').map((r) => r.value);
      for (const agg of AGGS) {
        expectClose(await store.query({ zone: 'z1', metric: 'noise', from: BASE, to: END, agg }), [
          { ts: BASE, value: aggregate(agg, z1) },
        ]);
      }
      expect(await store.query({ zone: 'z3', metric: 'noise', from: BASE, to: END })).toEqual([]);
    });

    it('stores readings without a zone and finds them by device', async () => {
      await store.write([reading('d9', 'temperature', BASE + 1000, 19, '')]);
      expect(await store.query({ device: 'd9', metric: 'temperature', from: BASE, to: END })).toEqual([
        { ts: BASE + 1000, value: 19, device: 'd9' },
      ]);
      expect(await store.query({ zone: '', metric: 'temperature', from: BASE, to: END })).toEqual([
        { ts: BASE + 1000, value: 19, device: 'd9' },
      ]);
    });

    it('includes from and excludes to', async () => {
      const from = BASE + 10_000;
      const to = BASE + 20_000;
      await store.write(
        [from - 1, from, from + 1, to - 1, to, to + 1].map((ts, i) => reading('d1', 'humidity', ts, 40 + i)),
      );
      const points = await store.query({ device: 'd1', metric: 'humidity', from, to });
      expect(points.map((p) => p.ts)).toEqual([from, from + 1, to - 1]);
      expect(await store.count({ device: 'd1', metric: 'humidity', from, to })).toBe(3);
      expect(await store.query({ device: 'd1', metric: 'humidity', from: to, to: from })).toEqual([]);
      expect(await store.query({ device: 'd1', metric: 'humidity', from, to: from })).toEqual([]);
    });

    it('aggregates over the whole range, reported at the range start', async () => {
      const values = [55.5, 61.25, 48, 72.125, 58, 66.5, 40.75];
      await store.write(values.map((v, i) => reading('d1', 'noise', BASE + i * MINUTE, v)));
      const from = BASE - 5 * MINUTE;
      for (const agg of AGGS) {
        expectClose(await store.query({ device: 'd1', metric: 'noise', from, to: END, agg }), [
          { ts: from, value: aggregate(agg, values) },
        ]);
      }
      // A sub-range: minutes 2..4 only.
      for (const agg of AGGS) {
        expectClose(
          await store.query({ device: 'd1', metric: 'noise', from: BASE + 2 * MINUTE, to: BASE + 5 * MINUTE, agg }),
          [{ ts: BASE + 2 * MINUTE, value: aggregate(agg, values.slice(2, 5)) }],
        );
      }
      for (const agg of AGGS) {
        expect(await store.query({ device: 'd1', metric: 'noise', from: END, to: END + HOUR, agg })).toEqual([]);
      }
    });

    it('LAeq is the energy average: 30 min at 60 dB + 30 min at 70 dB = 67.4 dB', async () => {
      const rs: Reading[] = [];
      for (let m = 0; m < 60; m++) rs.push(reading('d1', 'noise', BASE + m * MINUTE, m < 30 ? 60 : 70));
      await store.write(rs);
      const [point] = await store.query({ device: 'd1', metric: 'noise', from: BASE, to: BASE + HOUR, agg: 'laeq' });
      const expected = 10 * Math.log10((30 * 10 ** (60 / 10) + 30 * 10 ** (70 / 10)) / 60);
      expect(point?.value).toBeCloseTo(expected, 6);
      expect(point?.value).toBeCloseTo(67.4, 1);
      const [mean] = await store.query({ device: 'd1', metric: 'noise', from: BASE, to: BASE + HOUR, agg: 'mean' });
      expect(mean?.value).toBeCloseTo(65, 9);
    });

    it('aggregates per window of `every` ms aligned to the epoch, only windows with data', async () => {
      const rs: Reading[] = [];
      for (let m = 0; m < 120; m++) {
        // No data in minutes 30..49: those windows must be absent, not zero or null.
        if (m >= 30 && m < 50) continue;
        rs.push(reading('d1', 'noise', BASE + m * MINUTE + 7000, 35 + ((m * 7) % 31) + (m % 4) * 0.25));
      }
      await store.write(rs);
      const from = BASE + 5 * MINUTE;
      const to = BASE + 110 * MINUTE;
      // 15 min divides the hour; 7 min does not, so its windows do not start at BASE.
      for (const every of [15 * MINUTE, 7 * MINUTE]) {
        for (const agg of AGGS) {
          const expected = expectedWindows(rs, from, to, every, agg);
          expect(expected.length).toBeGreaterThan(5);
          expectClose(await store.query({ device: 'd1', metric: 'noise', from, to, every, agg }), expected);
        }
      }
      // The first window starts before `from` and holds only readings from `from` on.
      const [first] = await store.query({ device: 'd1', metric: 'noise', from, to, every: 15 * MINUTE, agg: 'min' });
      expect(first?.ts).toBe(BASE);
    });

    it('windows a zone across its devices', async () => {
      const rs: Reading[] = [];
      for (let m = 0; m < 30; m++) {
        rs.push(reading('d1', 'noise', BASE + m * MINUTE, 50 + (m % 5), 'z1'));
        rs.push(reading('d2', 'noise', BASE + m * MINUTE + 30_000, 64 + (m % 3), 'z1'));
        rs.push(reading('d3', 'noise', BASE + m * MINUTE, 99, 'z2'));
      }
      await store.write(rs);
      const z1 = rs.filter((r) => r.zone === 'z1');
      for (const agg of AGGS) {
        expectClose(
          await store.query({ zone: 'z1', metric: 'noise', from: BASE, to: END, every: 10 * MINUTE, agg }),
          expectedWindows(z1, BASE, END, 10 * MINUTE, agg),
        );
      }
    });

    it('limit keeps the newest points, still in ascending order', async () => {
      await store.write([1, 2, 3, 4, 5].map((i) => reading('d1', 'co2', BASE + i * 1000, 400 + i)));
      expect(await store.query({ device: 'd1', metric: 'co2', from: BASE, to: END, limit: 2 })).toEqual([
        { ts: BASE + 4000, value: 404, device: 'd1' },
        { ts: BASE + 5000, value: 405, device: 'd1' },
      ]);
      expect(await store.query({ device: 'd1', metric: 'co2', from: BASE, to: END, limit: 10 })).toHaveLength(5);
      expect(await store.query({ device: 'd1', metric: 'co2', from: BASE, to: END, limit: 0 })).toEqual([]);
    });

    it('stores and returns readings of unknown metrics', async () => {
      await store.write([
        { device: 'd1', metric: 'vibration_rms', ts: BASE + 1000, value: 0.125, zone: 'z1', unknownMetric: true },
        { device: 'd1', metric: 'vibration_rms', ts: BASE + 2000, value: 0.25, zone: 'z1', unknownMetric: true },
      ]);
      expect(await store.query({ device: 'd1', metric: 'vibration_rms', from: BASE, to: END })).toEqual([
        { ts: BASE + 1000, value: 0.125, device: 'd1' },
        { ts: BASE + 2000, value: 0.25, device: 'd1' },
      ]);
      expectClose(await store.query({ zone: 'z1', metric: 'vibration_rms', from: BASE, to: END, agg: 'mean' }), [
        { ts: BASE, value: 0.1875 },
      ]);
      expect(await store.count({ zone: 'z1', metric: 'vibration_rms', from: BASE, to: END })).toBe(2);
    });

    it('counts by device, zone and metric', async () => {
      await store.write([
        reading('d1', 'noise', BASE + 1000, 50, 'z1'),
        reading('d1', 'noise', BASE + 2000, 51, 'z1'),
        reading('d1', 'co2', BASE + 1000, 500, 'z1'),
        reading('d2', 'noise', BASE + 1000, 52, 'z1'),
        reading('d3', 'noise', BASE + 1000, 53, 'z2'),
        reading('d3', 'temperature', BASE + 9 * HOUR, 20, 'z2'),
      ]);
      expect(await store.count({ device: 'd1', from: BASE, to: END })).toBe(3);
      expect(await store.count({ device: 'd1', metric: 'noise', from: BASE, to: END })).toBe(2);
      expect(await store.count({ zone: 'z1', from: BASE, to: END })).toBe(4);
      expect(await store.count({ zone: 'z1', metric: 'noise', from: BASE, to: END })).toBe(3);
      expect(await store.count({ zone: 'z2', from: BASE, to: END })).toBe(1);
      expect(await store.count({ zone: 'z2', from: BASE, to: BASE + 10 * HOUR })).toBe(2);
      expect(await store.count({ metric: 'noise', from: BASE, to: END })).toBe(4);
      expect(await store.count({ from: BASE, to: END })).toBe(5);
      expect(await store.count({ device: 'nobody', from: BASE, to: END })).toBe(0);
      expect(await store.count({ device: 'd1', metric: 'no_such_metric', from: BASE, to: END })).toBe(0);
    });

    it('is not harmed by hostile values in query parameters', async () => {
      await store.write([
        reading('t-1', 'noise', BASE + 1000, 50, 'z1'),
        reading('d2', 'noise', BASE + 2000, 55, 'z1'),
      ]);
      const hostile = [
        "t-1' OR 1=1 --",
        '"; DROP DATABASE x',
        "'; DROP TABLE readings; --",
        't-1" OR "1"="1',
        '\\',
        't-1\\',
        "t-1'\nDROP MEASUREMENT noise",
        '/.*/',
        '$device',
      ];
      for (const h of hostile) {
        expect(await store.query({ device: h, metric: 'noise', from: BASE, to: END })).toEqual([]);
        expect(await store.query({ zone: h, metric: 'noise', from: BASE, to: END })).toEqual([]);
        expect(
          await store.query({ device: h, metric: 'noise', from: BASE, to: END, agg: 'laeq', every: MINUTE }),
        ).toEqual([]);
        expect(await store.count({ device: h, from: BASE, to: END })).toBe(0);
        expect(await store.count({ zone: h, metric: 'noise', from: BASE, to: END })).toBe(0);
      }
      // A metric cannot be bound in every backend: one outside the grammar is refused outright.
      for (const metric of ['noise"; DROP DATABASE x; --', "noise' OR 1=1", 'noise\\', '/.*/', '']) {
        await expect(store.query({ device: 't-1', metric, from: BASE, to: END })).rejects.toThrow(/metric/);
        await expect(store.count({ device: 't-1', metric, from: BASE, to: END })).rejects.toThrow(/metric/);
      }
      expect(await store.count({ from: BASE, to: END })).toBe(2);
      expect(await store.query({ zone: 'z1', metric: 'noise', from: BASE, to: END })).toEqual([
        { ts: BASE + 1000, value: 50, device: 't-1' },
        { ts: BASE + 2000, value: 55, device: 'd2' },
      ]);
    });

    it('refuses for good a batch holding what is not a reading, writing none of it', async () => {
      const good = reading('d1', 'noise', BASE + 1000, 50);
      const fn = (() => 1) as unknown as number;
      const bad: Reading[] = [
        reading('d1', 'noise bad', BASE + 2000, 50),
        reading('d1,zone=x', 'noise', BASE + 2000, 50),
        reading('d1', 'noise', BASE + 2000, 50, 'z 1'),
        reading('d1', 'noise', BASE + 2000, Number.NaN),
        reading('d1', 'noise', BASE + 2000, fn),
        reading('d1', 'toString', BASE + 2000, Number.POSITIVE_INFINITY),
        reading('d1', 'noise', BASE + 2000.5, 50),
        { ...reading('d1', 'noise', BASE + 2000, 50), value: undefined as unknown as number },
      ];
      for (const b of bad) {
        const refusal = await store.write([good, b]).catch((err: unknown) => err);
        // A refusal, not an outage: the writer sets the reading aside instead of retrying forever.
        expect(refusal).toBeInstanceOf(StoreRefusal);
        expect((refusal as Error).message).toMatch(/refusing reading/);
      }
      expect(await store.count({ from: BASE, to: END })).toBe(0);
    });

    it('gives back any batch of valid readings as written, the last of a repeated (device, metric, ts) winning', async () => {
      // Each run writes into its own zone and ten-minute slot, so runs never see each other's readings.
      let run = 0;
      const batch = fc.array(
        fc.record({ device: anyId, metric: anyMetric, offset: fc.integer({ min: 0, max: SLOT - 1 }), value: anyValue }),
        { minLength: 1, maxLength: 40 },
      );
      await fc.assert(
        fc.asyncProperty(batch, async (drawn) => {
          const zone = `prop-${++run}`;
          const slot = BASE + run * SLOT;
          const readings: Reading[] = drawn.map(({ device, metric, offset, value }) => ({
            device,
            metric,
            ts: slot + offset,
            value,
            zone,
            ...(!METRICS.has(metric) && { unknownMetric: true as const }),
          }));
          await store.write(readings);
          const kept = new Map<string, Reading>();
          for (const r of readings) kept.set(JSON.stringify([r.device, r.metric, r.ts]), r);
          const byTime = (a: SeriesPoint, b: SeriesPoint) =>
            a.ts - b.ts || (a.device! < b.device! ? -1 : a.device! > b.device! ? 1 : 0);
          for (const metric of new Set(readings.map((r) => r.metric))) {
            const expected = [...kept.values()]
              .filter((r) => r.metric === metric)
              .map((r) => ({ ts: r.ts, value: r.value, device: r.device }))
              .sort(byTime);
            expect(await store.query({ zone, metric, from: slot, to: slot + SLOT })).toEqual(expected);
            for (const device of new Set(expected.map((p) => p.device))) {
              expect(await store.query({ device, metric, from: slot, to: slot + SLOT })).toEqual(
                expected.filter((p) => p.device === device),
              );
            }
          }
          expect(await store.count({ zone, from: slot, to: slot + SLOT })).toBe(kept.size);
        }),
        { numRuns: 25 },
      );
    });

    it('rejects a query naming both or neither of device and zone', async () => {
      await expect(store.query({ metric: 'noise', from: BASE, to: END })).rejects.toThrow(/device or zone/);
      await expect(store.query({ device: 'd1', zone: 'z1', metric: 'noise', from: BASE, to: END })).rejects.toThrow(
        /device or zone/,
      );
    });

    it('writes and counts 20,000 readings in one call', async () => {
      const rs: Reading[] = [];
      for (let i = 0; i < 20_000; i++)
        rs.push(reading(`d${i % 20}`, 'temperature', BASE + Math.floor(i / 20) * 1000, 20 + (i % 50) / 10));
      await store.write(rs);
      expect(await store.count({ metric: 'temperature', from: BASE, to: END })).toBe(20_000);
      expect(await store.count({ device: 'd7', from: BASE, to: END })).toBe(1000);
      expect(await store.count({ zone: 'z1', from: BASE, to: END })).toBe(20_000);
      const d7 = rs.filter((r) => r.device === 'd7').map((r) => r.value);
      expectClose(await store.query({ device: 'd7', metric: 'temperature', from: BASE, to: END, agg: 'mean' }), [
        { ts: BASE, value: aggregate('mean', d7) },
      ]);
    });

    it('keeps alert history once per alert, event and time, and finds it by range and zone', async () => {
      const firing: AlertRecord = {
        alertId: 7,
        key: 'noise.n-1',
        rule: 'noise',
        subject: 'n-1',
        zone: 'floor-a',
        event: 'firing',
        severity: 'warning',
        at: BASE + MINUTE,
        summary: 'noise "LAeq" 66 dB(A) \\ above 65',
        value: 66.2,
      };
      const resolved: AlertRecord = { ...firing, event: 'resolved', at: BASE + 10 * MINUTE, value: 61 };
      const hub: AlertRecord = {
        alertId: 8,
        key: 'storage_down.hub',
        rule: 'storage_down',
        subject: 'hub',
        zone: 'hub',
        event: 'firing',
        severity: 'critical',
        at: BASE + 2 * MINUTE,
        summary: 'storage down',
      };
      const fault: AlertRecord = {
        alertId: 9,
        key: 'equipment.headset.hs-1',
        rule: 'equipment.headset',
        subject: 'hs-1',
        zone: 'floor-b',
        event: 'firing',
        severity: 'critical',
        at: BASE + 3 * MINUTE,
        summary: 'headset hs-1 in floor-b: headset fault: call drop-outs',
        code: 'drop "outs", \\ =',
      };
      await store.writeAlertEvents([firing, resolved, hub, fault]);
      await store.writeAlertEvents([firing]);
      expect(await store.queryAlertEvents({ from: BASE, to: END })).toEqual([firing, hub, fault, resolved]);
      expect(await store.queryAlertEvents({ from: BASE, to: END, zone: 'floor-a' })).toEqual([firing, resolved]);
      expect(await store.queryAlertEvents({ from: BASE + 5 * MINUTE, to: END })).toEqual([resolved]);
      expect(await store.queryAlertEvents({ from: BASE, to: END, limit: 1 })).toEqual([resolved]);
    });

    it('keeps alert history past the raw retention, for the long-term retention', async () => {
      // Default retentions: readings 30 days, alert history 104 weeks.
      const DAY = 24 * HOUR;
      const now = Date.now();
      const twoMonthsAgo = now - 60 * DAY;
      const threeYearsAgo = now - 3 * 365 * DAY;
      const kept: AlertRecord = {
        alertId: 21,
        key: 'offline.ph-4',
        rule: 'offline',
        subject: 'ph-4',
        zone: 'floor-a',
        event: 'firing',
        severity: 'critical',
        at: twoMonthsAgo,
        summary: 'phone ph-4 silent for 600 s',
      };
      const expired: AlertRecord = { ...kept, alertId: 20, at: threeYearsAgo };
      // Data older than its retention is either refused for good (InfluxDB) or removed by prune (SQLite).
      const refusedForGood = (err: unknown) => expect(err).toBeInstanceOf(StoreRefusal);
      await store.write([reading('d1', 'co2', twoMonthsAgo, 800)]).catch(refusedForGood);
      await store.writeAlertEvents([kept]);
      await store.writeAlertEvents([expired]).catch(refusedForGood);
      await store.prune?.(now);
      expect(await store.count({ from: threeYearsAgo, to: now })).toBe(0);
      expect(await store.queryAlertEvents({ from: threeYearsAgo - DAY, to: now })).toEqual([kept]);
      expect(await store.queryAlertEvents({ from: threeYearsAgo - DAY, to: now, zone: 'floor-a' })).toEqual([kept]);
    });
  });
}
