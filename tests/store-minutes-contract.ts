// The suite both stores' 1-minute aggregates must pass: a day of readings with late arrivals gives
// the minutes the raw readings give, a restart mid-minute neither loses nor doubles one, a reading
// hours late still lands in its minute, a device that changes zone within a minute has a part of it
// in each, raw readings past their retention are gone while their minutes stay, and queries over a
// range the raw retention no longer holds come from the minutes with the same figures. Expected
// values are computed here.
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../hub/domain/reading.ts';
import { touchedMinutes, type MinuteAggregate } from '../hub/store/minutes.ts';
import { PendingMinutes } from '../hub/store/pending-minutes.ts';
import type { Aggregate, Store } from '../hub/store/store.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface MinuteStoreOptions {
  now: () => number;
  rawRetentionMs: number;
}

/** One storage (a file, a database) that can be opened, closed and opened again, then removed. */
export interface MinuteStorage {
  open(options: MinuteStoreOptions): Promise<Store>;
  /** Puts a reading among the raw readings alone, as a release before minutes would have. */
  rawOnly(reading: Reading): Promise<void>;
  /**
   * Waits until raw readings past the store's raw retention at `now` are gone, by whatever removes
   * them: the hub's own prune, or the database's expiry.
   */
  expireRaw(store: Store, now: number): Promise<void>;
  dispose(): Promise<void>;
}

/** A pseudo-random but repeatable sequence in [0, 1). */
function sequence(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/** Each (device, metric, minute)'s aggregate as the raw readings give it. */
function expectedMinutes(readings: readonly Reading[]): MinuteAggregate[] {
  const groups = new Map<string, Reading[]>();
  for (const r of readings) {
    const key = `${r.device}|${r.metric}|${Math.floor(r.ts / MINUTE) * MINUTE}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.entries()]
    .map(([key, rs]) => {
      const [device, metric, minute] = key.split('|') as [string, string, string];
      const values = rs.map((r) => r.value);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return {
        device,
        metric,
        zone: rs[0]!.zone,
        ts: Number(minute),
        mean,
        min: Math.min(...values),
        max: Math.max(...values),
        count: values.length,
        ...(metric === 'noise' && { energy: values.reduce((a, v) => a + 10 ** (v / 10), 0) / values.length }),
      };
    })
    .sort((a, b) => a.ts - b.ts || (a.device < b.device ? -1 : 1));
}

/** Writes readings and rolls up their minutes at once, as the hub does when it stops. */
async function stored(store: Store, readings: readonly Reading[]): Promise<void> {
  await store.write(readings);
  await store.rollUp(touchedMinutes(readings));
}

function expectSameMinutes(found: readonly MinuteAggregate[], expected: readonly MinuteAggregate[]): void {
  expect(found.map((m) => [m.device, m.ts, m.count, m.zone])).toEqual(
    expected.map((m) => [m.device, m.ts, m.count, m.zone]),
  );
  found.forEach((m, i) => {
    const e = expected[i]!;
    expect(m.mean).toBeCloseTo(e.mean, 9);
    expect(m.min).toBe(e.min);
    expect(m.max).toBe(e.max);
    if (e.energy === undefined) expect(m.energy).toBeUndefined();
    else expect(m.energy! / e.energy).toBeCloseTo(1, 9);
  });
}

export function describeMinutesContract(name: string, storage: () => MinuteStorage): void {
  describe(`Minutes contract: ${name}`, () => {
    let opened: MinuteStorage | undefined;
    const stores: Store[] = [];
    const open = async (options: MinuteStoreOptions): Promise<Store> => {
      opened ??= storage();
      const store = await opened.open(options);
      await store.init();
      stores.push(store);
      return store;
    };
    afterEach(async () => {
      for (const s of stores.splice(0)) await s.close();
      await opened?.dispose();
      opened = undefined;
    });

    // An hour-aligned day that ended an hour ago: recent enough for any raw retention.
    const start = Math.floor(Date.now() / HOUR) * HOUR - 25 * HOUR;

    it('a day of readings, some arriving up to 40 minutes late, gives the minutes the raw readings give', async () => {
      const random = sequence(7);
      const readings: Array<Reading & { arrives: number }> = [];
      for (let t = start; t < start + DAY; t += MINUTE)
        for (const device of ['d1', 'd2']) {
          const at = t + Math.floor(random() * 50_000);
          // One in about twenty is late: buffered by its device, sent up to 40 minutes after (and written within the quarter hour it arrives).
          const late = random() < 0.05 ? Math.floor(random() * 40 * MINUTE) : 0;
          const temperature = Math.round((21 + 3 * Math.sin((t - start) / (4 * HOUR)) + random()) * 10) / 10;
          const noise = Math.round((45 + 30 * random()) * 10) / 10;
          readings.push({ device, metric: 'temperature', ts: at, value: temperature, zone: 'z1', arrives: at + late });
          readings.push({ device, metric: 'noise', ts: at + 1, value: noise, zone: 'z1', arrives: at + 1 + late });
        }
      let clock = start;
      const store = await open({ now: () => clock, rawRetentionMs: 30 * DAY });
      // Minutes roll up as the hub's writer rolls them: once closed, and again when a late reading lands.
      const pending = new PendingMinutes({ rollUp: (t) => store.rollUp(t), now: () => clock, max: 100_000 });
      const byArrival = [...readings].sort((a, b) => a.arrives - b.arrives);
      // Written as they arrive, a quarter of an hour at a time.
      let lsn = 0;
      for (let from = start; from < start + DAY + HOUR; from += 15 * MINUTE) {
        const batch = byArrival.filter((r) => r.arrives >= from && r.arrives < from + 15 * MINUTE);
        clock = from + 15 * MINUTE;
        if (batch.length === 0) continue;
        await store.write(batch.map(({ arrives: _, ...r }) => r));
        pending.add(batch, lsn);
        lsn += batch.length;
        await pending.rollUp();
      }
      expect(pending.size).toBe(0);
      for (const device of ['d1', 'd2'])
        for (const metric of ['temperature', 'noise']) {
          const found = await store.queryMinutes({ device, metric, from: start, to: start + DAY + HOUR });
          expect(found).toHaveLength(24 * 60);
          expectSameMinutes(found, expectedMinutes(readings.filter((r) => r.device === device && r.metric === metric)));
        }
    });

    it('a restart in the middle of a minute neither loses nor doubles it, and a replay counts once', async () => {
      const minute = start + 10 * MINUTE;
      const at = (s: number, value: number): Reading => ({
        device: 'd1',
        metric: 'noise',
        ts: minute + s * 1000,
        value,
        zone: 'z1',
      });
      const first = [at(5, 50), at(15, 60), at(25, 70)];
      const second = [at(35, 55), at(45, 65), at(55, 75)];
      const options = { now: () => minute + MINUTE, rawRetentionMs: 30 * DAY };
      const before = await open(options);
      await stored(before, first);
      await before.close();
      stores.splice(stores.indexOf(before), 1);
      const after = await open(options);
      // The journal hands over again what it had not seen stored: the first reading, once more.
      await stored(after, [first[2]!, ...second]);
      expectSameMinutes(
        await after.queryMinutes({ device: 'd1', metric: 'noise', from: minute, to: minute + MINUTE }),
        expectedMinutes([...first, ...second]),
      );
    });

    it('a reading hours late (a store that was down) still lands in its minute', async () => {
      const minute = start + 20 * MINUTE;
      let clock = minute + MINUTE;
      const store = await open({ now: () => clock, rawRetentionMs: 30 * DAY });
      const onTime: Reading = { device: 'd1', metric: 'co2', ts: minute + 1000, value: 600, zone: 'z1' };
      await stored(store, [onTime]);
      clock = minute + 6 * HOUR;
      const late = { ...onTime, ts: minute + 2000, value: 900 };
      await stored(store, [late]);
      expectSameMinutes(
        await store.queryMinutes({ device: 'd1', metric: 'co2', from: minute, to: minute + MINUTE }),
        expectedMinutes([onTime, late]),
      );
    });

    it('a reading older than the raw retention leaves its minute as it was', async () => {
      const minute = start + 40 * MINUTE;
      let clock = minute + MINUTE;
      const store = await open({ now: () => clock, rawRetentionMs: 2 * DAY });
      const onTime: Reading = { device: 'd1', metric: 'co2', ts: minute + 1000, value: 600, zone: 'z1' };
      await stored(store, [onTime]);
      // Its other raw readings may be gone by now: a minute rewritten from what is left would lose them.
      clock = minute + 3 * DAY;
      await stored(store, [{ ...onTime, ts: minute + 2000, value: 900 }]);
      expectSameMinutes(
        await store.queryMinutes({ device: 'd1', metric: 'co2', from: minute, to: minute + MINUTE }),
        expectedMinutes([onTime]),
      );
    });

    it('raw readings past the raw retention are gone while their minutes stay', async () => {
      // Three days back on the real clock, as a database's own expiry goes by it.
      const hour = start - 2 * DAY;
      const readings: Reading[] = [];
      for (let t = hour; t < hour + HOUR; t += 30_000)
        readings.push({ device: 'd1', metric: 'temperature', ts: t, value: 20 + ((t / 30_000) % 5), zone: 'z1' });
      const range = { device: 'd1', metric: 'temperature', from: hour, to: hour + HOUR };
      const kept = await open({ now: Date.now, rawRetentionMs: 30 * DAY });
      await stored(kept, readings);
      expect(await kept.count(range)).toBe(readings.length);
      await kept.close();
      stores.splice(stores.indexOf(kept), 1);
      // The site shortens its raw retention to a day.
      const store = await open({ now: Date.now, rawRetentionMs: DAY });
      await opened!.expireRaw(store, Date.now());
      expect(await store.count(range)).toBe(0);
      expectSameMinutes(await store.queryMinutes(range), expectedMinutes(readings));
    });

    it('a device that changes zone within a minute has a part of the minute in each', async () => {
      const minute = start + 30 * MINUTE;
      const store = await open({ now: () => minute + MINUTE, rawRetentionMs: 30 * DAY });
      const at = (s: number, zone: string, value: number): Reading => ({
        device: 'd1',
        metric: 'humidity',
        ts: minute + s * 1000,
        value,
        zone,
      });
      await stored(store, [at(10, 'floor-a', 40), at(20, 'floor-b', 50)]);
      await stored(store, [at(30, 'floor-a', 44)]);
      const found = await store.queryMinutes({ device: 'd1', metric: 'humidity', from: minute, to: minute + MINUTE });
      expect(found.map((m) => [m.zone, m.count, m.mean])).toEqual([
        ['floor-a', 2, 42],
        ['floor-b', 1, 50],
      ]);
      expect(
        await store.queryMinutes({ zone: 'floor-b', metric: 'humidity', from: minute, to: minute + MINUTE }),
      ).toHaveLength(1);
    });

    it('aggregates over a range beyond the raw retention come from the minutes, with the same figures', async () => {
      const readings: Reading[] = [];
      for (let t = start; t < start + HOUR; t += 20_000)
        readings.push({ device: 'd1', metric: 'noise', ts: t, value: 40 + ((t / 20_000) % 7) * 5, zone: 'z1' });
      let clock = start + HOUR;
      const store = await open({ now: () => clock, rawRetentionMs: 2 * DAY });
      await stored(store, readings);
      const q = { device: 'd1', metric: 'noise', from: start, to: start + HOUR, every: 15 * MINUTE } as const;
      const aggs: Aggregate[] = ['mean', 'min', 'max', 'laeq'];
      const recent = await Promise.all(aggs.map((agg) => store.query({ ...q, agg })));
      // Three days later the range is past the raw retention: the same answers, from the minutes.
      // A reading in raw alone (no minute knows it) shows which was read.
      clock = start + 3 * DAY;
      await opened!.rawOnly({ device: 'd1', metric: 'noise', ts: start + 5 * MINUTE + 1, value: 120, zone: 'z1' });
      expect(await store.count({ device: 'd1', metric: 'noise', from: start, to: start + HOUR })).toBe(
        readings.length + 1,
      );
      const later = await Promise.all(aggs.map((agg) => store.query({ ...q, agg })));
      expect(later.map((points) => points.map((p) => p.ts))).toEqual(recent.map((points) => points.map((p) => p.ts)));
      later.forEach((points, i) => points.forEach((p, j) => expect(p.value).toBeCloseTo(recent[i]![j]!.value, 9)));
      expect(recent[0]).toHaveLength(4);
      // In whole minutes: a range starting inside a minute counts that minute whole.
      expect(await store.query({ ...q, from: start + 25_000, every: undefined, agg: 'max' })).toEqual([
        { ts: start + 25_000, value: Math.max(...readings.map((r) => r.value)) },
      ]);
      // Points asked for without an aggregate are the minutes' means, one a minute.
      const points = await store.query({ device: 'd1', metric: 'noise', from: start, to: start + HOUR });
      expect(points.map((p) => p.ts)).toEqual(Array.from({ length: 60 }, (_, i) => start + i * MINUTE));
      expect(points[5]!.value).toBeCloseTo(
        expectedMinutes(readings.filter((r) => r.ts >= start + 5 * MINUTE && r.ts < start + 6 * MINUTE))[0]!.mean,
        9,
      );
      expect(await store.query({ device: 'd1', metric: 'noise', from: start, to: start + HOUR, limit: 2 })).toEqual(
        points.slice(-2),
      );
    });

    it('a zone’s minutes come in time order across its devices; with a limit, only the newest are read', async () => {
      const readings: Reading[] = [];
      for (let t = start; t < start + HOUR; t += 20_000)
        for (const device of ['d2', 'd1', 'constructor'])
          readings.push({ device, metric: 'temperature', ts: t, value: 20 + ((t / 20_000) % 3), zone: 'z1' });
      let clock = start + HOUR;
      const store = await open({ now: () => clock, rawRetentionMs: 2 * DAY });
      await stored(store, readings);
      const range = { zone: 'z1', metric: 'temperature', from: start, to: start + HOUR };
      const all = expectedMinutes(readings);
      expectSameMinutes(await store.queryMinutes(range), all);
      expectSameMinutes(await store.queryMinutes({ ...range, limit: 4 }), all.slice(-4));
      // Past the raw retention the zone's points are the minutes' means, in time order, the newest kept.
      clock = start + 3 * DAY;
      const points = await store.query(range);
      expect(points.map((p) => [p.ts, p.device])).toEqual(all.map((m) => [m.ts, m.device]));
      expect((await store.query({ ...range, limit: 5 })).map((p) => [p.ts, p.device])).toEqual(
        all.slice(-5).map((m) => [m.ts, m.device]),
      );
    });
  });
}
