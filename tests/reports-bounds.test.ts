// What a report may hold and how many run at once: a report over days reads the store a day at a
// time with the figures unchanged, and however many people ask at once, only limits.reports_at_once
// reports are prepared together, limits.reports_waiting wait, and a further one is refused at once.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../hub/config/config.ts';
import type { Reading } from '../hub/domain/reading.ts';
import { shiftReport } from '../hub/reports/shift.ts';
import { siteRules } from '../hub/rules/site.ts';
import { touchedMinutes } from '../hub/store/minutes.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import type { ReadingQuery, StoreReader } from '../hub/store/store.ts';
import { memoryApi, type MemoryApi } from './support/api.ts';
import { tempDir, testEnv } from './support/hub.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** A store's raw retention unless told otherwise. */
const RAW_KEPT = 30 * DAY;

/** A call floor open around the clock in winter: comfort is judged at every reading. */
function openAllDay(): Config {
  return loadConfig({
    env: testEnv(tempDir(), {
      config: {
        site: { season: 'winter', timezone: 'UTC', hours: { daily: '00:00-24:00' }, warm_up: '0s' },
        zones: [{ id: 'floor-a', type: 'call_floor' }],
      },
    }),
  });
}

/** The store, noting each raw read: its span, where it began, and the points it answered. */
function noting(store: SqliteStore): {
  reads: StoreReader;
  rawSpans: number[];
  rawAnswers: number[];
  rawFrom: number[];
} {
  const rawSpans: number[] = [];
  const rawAnswers: number[] = [];
  const rawFrom: number[] = [];
  const reads: StoreReader = {
    name: store.name,
    health: () => store.health(),
    query: async (q: ReadingQuery) => {
      const points = await store.query(q);
      if (q.agg === undefined) {
        rawSpans.push(q.to - q.from);
        rawAnswers.push(points.length);
        rawFrom.push(q.from);
      }
      return points;
    },
    queryMinutes: (q) => store.queryMinutes(q),
    count: (q) => store.count(q),
    queryAlertEvents: (q) => store.queryAlertEvents(q),
  };
  return { reads, rawSpans, rawAnswers, rawFrom };
}

describe('a shift report over three days', () => {
  it('reads raw readings at most a day at a time, and judges every one of them', async () => {
    const config = openAllDay();
    const from = Date.UTC(2026, 10, 2, 0, 0);
    const to = from + 3 * DAY + 2 * HOUR;
    // 25 °C (above winter's 24 °C) through every third clock hour, 21 °C otherwise: every window
    // the requirement looks at holds one value only.
    const readings: Reading[] = [];
    let within = 0;
    for (let ts = from; ts < to; ts += 5 * MINUTE) {
      const hot = Math.floor((ts - from) / HOUR) % 3 === 0;
      if (!hot) within += 1;
      readings.push({ device: 't-1', zone: 'floor-a', metric: 'temperature', value: hot ? 25 : 21, ts });
      for (const device of ['n-1', 'n-2']) readings.push({ device, zone: 'floor-a', metric: 'noise', value: 50, ts });
    }
    const store = new SqliteStore({ path: ':memory:', now: () => to });
    await store.init();
    const { reads, rawSpans } = noting(store);
    try {
      await store.write(readings);
      const report = await shiftReport(reads, (at) => siteRules(config, at), from, to, to - RAW_KEPT);
      expect(Math.max(...rawSpans)).toBeLessThanOrEqual(DAY);
      const temperature = report.zones[0]?.compliance.find((c) => c.requirement === 'temperature');
      const count = (to - from) / (5 * MINUTE);
      expect(temperature).toMatchObject({ readings: count, percentWithin: (100 * within) / count });
      expect(report.positions.map((p) => p.device)).toEqual(['n-1', 'n-2']);
    } finally {
      await store.close();
    }
  });
});

describe('a shift report over a dense day', () => {
  it('reads it in slices of about 50,000 readings, and judges every one', async () => {
    const config = openAllDay();
    const from = Date.UTC(2026, 10, 2, 0, 0);
    const to = from + 20 * HOUR;
    // A room meter every second: 72,000 readings.
    const readings: Reading[] = [];
    for (let ts = from; ts < to; ts += 1000)
      readings.push({ device: 'n-1', zone: 'floor-a', metric: 'noise', value: 50, ts });
    const store = new SqliteStore({ path: ':memory:', now: () => to });
    await store.init();
    const { reads, rawAnswers } = noting(store);
    try {
      await store.write(readings);
      const report = await shiftReport(reads, (at) => siteRules(config, at), from, to, to - RAW_KEPT);
      expect(Math.max(...rawAnswers)).toBeLessThanOrEqual(50_000);
      const noise = report.zones[0]?.compliance.find((c) => c.metric === 'noise');
      expect(noise?.readings).toBe(readings.length);
      expect(report.positions.map((p) => p.device)).toEqual(['n-1']);
    } finally {
      await store.close();
    }
  });
});

describe('a shift report over days the raw readings have gone from', () => {
  it('reads a day the retention has begun to pass an hour at a time, and counts the minutes of the span only', async () => {
    const config = openAllDay();
    // Half a minute past the minute: the store answers whole minutes past its raw retention.
    const from = Date.UTC(2026, 8, 1, 0, 0, 30);
    const to = from + 2 * DAY;
    let now = to;
    const store = new SqliteStore({ path: ':memory:', rawRetentionMs: 3 * DAY, now: () => now });
    await store.init();
    try {
      const readings: Reading[] = [];
      for (let ts = from - 30_000; ts < to + MINUTE; ts += MINUTE)
        readings.push({ device: 't-1', zone: 'floor-a', metric: 'temperature', value: 21, ts });
      await store.write(readings);
      await store.rollUp(touchedMinutes(readings));
      // The raw retention now ends half-way through the first day, and the hourly prune has taken
      // the raw readings before it: there the store answers minutes, after it raw readings.
      now = from + 12 * HOUR + 3 * DAY;
      await store.prune();
      const { reads, rawAnswers, rawFrom } = noting(store);
      const report = await shiftReport(reads, (at) => siteRules(config, at), from, to, now - 3 * DAY);
      // The first day is read an hour at a time (an hour's minutes, and the one it begins in),
      // though its count holds only the raw half; the second, all raw, at once.
      const firstDay = rawAnswers.filter((_, i) => (rawFrom[i] ?? 0) < from + DAY);
      expect(Math.max(...firstDay)).toBeLessThanOrEqual(61);
      const temperature = report.zones[0]?.compliance.find((c) => c.requirement === 'temperature');
      // Minutes starting in [from, to): from itself is not the start of one.
      expect(temperature?.readings).toBe((to - from) / MINUTE);
    } finally {
      await store.close();
    }
  });
});

describe('reports asked for all at once', () => {
  let api: MemoryApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('prepares one at a time, lets two wait and refuses a fourth at once with a 503 that says why', async () => {
    api = await memoryApi({
      config: { zones: [{ id: 'floor-a' }], limits: { reports_at_once: 1, reports_waiting: 2 } },
    });
    const { app, store } = api;
    // The store holds every read until let go, and notes the span of the report each read is for.
    let letGo: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    const spansRead = new Set<number>();
    let firstRead: () => void = () => undefined;
    const aReadCame = new Promise<void>((resolve) => (firstRead = resolve));
    const query = store.query.bind(store);
    store.query = async (q) => {
      // Aggregates are asked over the report's whole span; raw reads a slice at a time.
      if (q.agg !== undefined) spansRead.add(q.from);
      firstRead();
      await held;
      return query(q);
    };
    const to = new Date(api.rules.clock.now()).toISOString();
    const ask = (hoursBack: number) =>
      app.inject({ method: 'GET', url: `/api/v1/reports/shift?from=-${hoursBack}h&to=${to}` });

    const first = ask(1);
    await aReadCame;
    const others = [ask(2), ask(3), ask(4)];
    const refused = await Promise.race(others);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('10');
    expect(refused.json<{ message: string }>().message).toMatch(
      /1 report is being prepared and 2 more wait .*limits\.reports_waiting/,
    );
    // Only the first report has read anything while it is being prepared.
    expect(spansRead.size).toBe(1);

    letGo();
    const answers = await Promise.all([first, ...others]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 200, 200, 503]);
    expect(spansRead.size).toBe(3);
  });
});
