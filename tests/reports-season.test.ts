// A shift that crosses a change of season judges each reading by the requirements of its own
// season, as the alert rules do.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../hub/config/config.ts';
import type { Reading } from '../hub/domain/reading.ts';
import { shiftReport } from '../hub/reports/shift.ts';
import { siteRules } from '../hub/rules/site.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import { tempDir, testEnv } from './support/hub.ts';

const MINUTE = 60_000;

describe('a night shift from the last evening of October into November', () => {
  it('judges the readings before midnight by the transition season and those after by winter', async () => {
    const config = loadConfig({
      env: testEnv(tempDir(), {
        config: { site: { season: 'calendar' }, zones: [{ id: 'floor-a', type: 'call_floor' }] },
      }),
    });
    const from = new Date(2026, 9, 31, 22, 0).getTime();
    const to = new Date(2026, 10, 1, 6, 0).getTime();
    const midnight = new Date(2026, 10, 1, 0, 0).getTime();
    // 25 °C: inside the transition season's band (up to 26 °C), above winter's (24 °C).
    const readings: Reading[] = [];
    for (let ts = from; ts < to; ts += MINUTE)
      readings.push({ device: 't-1', zone: 'floor-a', metric: 'temperature', value: 25, ts });
    // The shift just ended, its readings raw, whatever the date the test runs on.
    const store = new SqliteStore({ path: ':memory:', now: () => to });
    await store.init();
    try {
      await store.write(readings);
      const rules = (at: number) => siteRules(config, at);
      expect(rules(from).season).toBe('transition');
      expect(rules(midnight).season).toBe('winter');
      // The store keeps 30 days raw, by its own clock.
      const report = await shiftReport(store, rules, from, to, to - 30 * 24 * 60 * MINUTE);
      const temperature = report.zones[0]?.compliance.find((c) => c.requirement === 'temperature');
      const before = (midnight - from) / MINUTE;
      expect(temperature).toMatchObject({ readings: readings.length, percentWithin: (100 * before) / readings.length });
    } finally {
      await store.close();
    }
  });
});

describe('a shift across opening time', () => {
  it('says how much of the span each zone was open and whether it is now, and judges comfort only while open', async () => {
    const config = loadConfig({
      env: testEnv(tempDir(), {
        config: {
          site: { season: 'winter', timezone: 'UTC', hours: { daily: '08:00-20:00' }, warm_up: '0s' },
          zones: [
            { id: 'floor-a', type: 'call_floor' },
            { id: 'night-desk', type: 'call_floor', hours: { daily: '00:00-24:00' } },
          ],
        },
      }),
    });
    const from = Date.UTC(2026, 11, 1, 6, 0);
    const to = Date.UTC(2026, 11, 1, 10, 0);
    // 15 °C all along: outside comfort (18–24), inside the set-back band (12–30).
    const readings: Reading[] = [];
    for (let ts = from; ts < to; ts += MINUTE)
      readings.push({ device: 't-1', zone: 'floor-a', metric: 'temperature', value: 15, ts });
    const store = new SqliteStore({ path: ':memory:' });
    await store.init();
    try {
      await store.write(readings);
      const report = await shiftReport(
        store,
        (at) => siteRules(config, at),
        from,
        to,
        Date.now() - 30 * 24 * 60 * MINUTE,
      );
      const [floorA, desk] = report.zones;
      expect(floorA).toMatchObject({ zone: 'floor-a', openPercent: 50, occupancyAtEnd: 'occupied' });
      expect(desk).toMatchObject({ zone: 'night-desk', openPercent: 100 });
      const byKey = new Map(floorA?.compliance.map((c) => [c.requirement, c]));
      expect(byKey.get('temperature')).toMatchObject({ readings: 120, percentWithin: 0 });
      expect(byKey.get('temperature_setback')).toMatchObject({ readings: 120, percentWithin: 100 });
    } finally {
      await store.close();
    }
  });
});
