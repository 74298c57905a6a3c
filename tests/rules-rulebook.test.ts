// The rule book: one answer per zone and time for the rule engine, the API, the reports and the
// dashboards — seasons, overrides, zones the configuration does not name — and the one judgement
// of values against a requirement that the floor page and the shift report share with the alerts.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../hub/config/config.ts';
import { breach, RuleBook, zoneWide, type ZoneSpec } from '../hub/rules/rulebook.ts';
import type { Limit, Requirement, RuleOverrides } from '../hub/domain/requirement.ts';
import type { Season } from '../hub/domain/zone.ts';

const day = (month: number) => new Date(2026, month - 1, 14, 9).getTime();
const JANUARY = day(1);
const MAY = day(5);
const JULY = day(7);

function book(
  zones: [string, ZoneSpec][],
  season: Season | 'calendar' = 'calendar',
  site: RuleOverrides = {},
): RuleBook {
  return new RuleBook({ zones: new Map(zones), site, season });
}

function bounds(req: Requirement | undefined): string[] {
  return (req?.limits ?? []).map((l) => `${l.severity} ${l.when} ${l.threshold.value}`).sort();
}

const find = (list: readonly Requirement[], key: string) => list.find((r) => r.key === key);

describe('forZone', () => {
  const floors = book([
    ['floor-a', { type: 'call_floor' }],
    ['quiet-1', { type: 'quiet_room', overrides: { noise: { warning: { above: 38 } } } }],
    ['server-room', { type: 'server_room' }],
  ]);

  it('follows the calendar: winter in January, summer in July, the union of both bands in May', () => {
    expect(floors.seasonFrom).toBe('calendar');
    expect([JANUARY, MAY, JULY].map((t) => floors.season(t))).toEqual(['winter', 'transition', 'summer']);
    expect(bounds(find(floors.forZone('floor-a', JANUARY), 'temperature'))).toEqual([
      'critical above 26',
      'critical below 16',
      'warning above 24',
      'warning below 18',
    ]);
    expect(bounds(find(floors.forZone('floor-a', JULY), 'temperature'))).toEqual([
      'critical above 28',
      'critical below 20',
      'warning above 26',
      'warning below 22',
    ]);
    expect(bounds(find(floors.forZone('floor-a', MAY), 'temperature'))).toEqual([
      'critical above 28',
      'critical below 16',
      'warning above 26',
      'warning below 18',
    ]);
    // The server room has no seasons.
    expect(floors.forZone('server-room', JANUARY)).toEqual(floors.forZone('server-room', JULY));
  });

  it('changes season at the first local midnight of the month, whichever way time is asked', () => {
    // Readings arrive out of order: the month last worked out must not answer for another.
    const edge = (month: number) => new Date(2026, month - 1, 1).getTime();
    const asked = [edge(11), edge(11) - 1, edge(6) - 1, edge(6), edge(9) - 1, edge(9), edge(4), edge(4) - 1];
    expect(asked.map((t) => floors.season(t))).toEqual([
      'winter',
      'transition',
      'transition',
      'summer',
      'summer',
      'transition',
      'transition',
      'winter',
    ]);
  });

  it('a season set in the configuration holds all year', () => {
    const summer = book([['floor-a', { type: 'call_floor' }]], 'summer');
    expect(summer.seasonFrom).toBe('config');
    expect(summer.season(JANUARY)).toBe('summer');
    expect(find(summer.forZone('floor-a', JANUARY), 'temperature')?.title).toBe('temperature (summer)');
  });

  it("applies the site's overrides everywhere and a zone's own only there, each number naming its source", () => {
    const site: RuleOverrides = { temperature: { critical: { below: 15 } }, air_speed: { enabled: false } };
    const b = book(
      [
        ['floor-a', { type: 'call_floor', overrides: { temperature: { critical: { above: 27 } } } }],
        ['floor-b', { type: 'call_floor' }],
      ],
      'winter',
      site,
    );
    const a = find(b.forZone('floor-a', JANUARY), 'temperature');
    expect(bounds(a)).toEqual(['critical above 27', 'critical below 15', 'warning above 24', 'warning below 18']);
    expect(a?.limits.find((l) => l.threshold.value === 15)?.threshold.source).toBe(
      'override in rules.overrides.temperature.critical.below',
    );
    expect(a?.limits.find((l) => l.threshold.value === 27)?.threshold.source).toBe(
      'override in zones[floor-a].rules.temperature.critical.above',
    );
    expect(bounds(find(b.forZone('floor-b', JANUARY), 'temperature'))).toEqual([
      'critical above 26',
      'critical below 15',
      'warning above 24',
      'warning below 18',
    ]);
    expect(find(b.forZone('floor-b', JANUARY), 'air_speed')).toBeUndefined();
    expect(find(floors.forZone('quiet-1', JANUARY), 'noise')?.limits.map((l) => l.threshold.value)).toEqual([38, 45]);
  });

  it('gives devices not in a zone, and zones the configuration does not name, the one call-floor answer', () => {
    const b = book([['floor-a', { type: 'call_floor' }]], 'winter', { co2: { hysteresis: 50 } });
    const unzoned = b.forZone('', JANUARY);
    expect(b.forZone('floor-z', JANUARY)).toBe(unzoned);
    expect(b.forZone('unassigned', JANUARY)).toBe(unzoned);
    expect(find(unzoned, 'noise')?.title).toBe('noise, LAeq over 15 min (occupied call floor)');
    expect(find(unzoned, 'co2')?.hysteresis.value).toBe(50);
    // Answers are built once: the same zone and season give the very same list.
    expect(b.forZone('floor-a', JANUARY)).toBe(b.forZone('floor-a', JANUARY + 3_600_000));
  });

  it('forMetric gives the requirements watching one metric; a metric none watches gets none', () => {
    expect(floors.forMetric('server-room', 'temperature', JANUARY).map((r) => r.key)).toEqual([
      'temperature',
      'temperature_rise',
    ]);
    expect(floors.forMetric('floor-a', 'noise', JANUARY).map((r) => r.key)).toEqual(['noise', 'noise_exposure']);
    expect(floors.forMetric('floor-a', 'voltage', JANUARY)).toEqual([]);
  });

  it('hands out frozen requirements: no reader can change what the rule engine judges by', () => {
    const list = floors.forZone('floor-a', JANUARY);
    const temperature = find(list, 'temperature')!;
    expect(() => {
      (temperature.limits[0] as Limit).threshold.value = 99;
    }).toThrow(TypeError);
    expect(() => (list as Requirement[]).push(temperature)).toThrow(TypeError);
    expect(() => (floors.forMetric('floor-a', 'co2', JANUARY) as Requirement[]).pop()).toThrow(TypeError);
    expect(bounds(find(floors.forZone('floor-a', JANUARY), 'temperature'))).toContain('warning below 18');
  });

  it('refuses overrides that contradict each other, naming the zone and the season', () => {
    expect(() =>
      book([['floor-a', { type: 'call_floor', overrides: { temperature: { critical: { above: 22 } } } }]]),
    ).toThrow(ConfigError);
    expect(() =>
      book([['floor-a', { type: 'call_floor', overrides: { temperature: { critical: { above: 22 } } } }]]),
    ).toThrow(/rules for zone floor-a \(winter\): temperature: critical above 22 is below warning above 24/);
    expect(() => book([], 'winter', { co2: { warning: { above: 1600 } } })).toThrow(
      /rules for zone unassigned \(summer\): co2: critical above 1500 is below warning above 1600/,
    );
  });
});

describe('breach: the one judgement of values against a requirement', () => {
  const floor = book([], 'winter');
  const temperature = find(floor.forZone('', JANUARY), 'temperature')!;

  it('names the most severe limit the values are past, the first among equals; no value, no judgement', () => {
    expect(breach(temperature, () => 21)).toBeUndefined();
    expect(breach(temperature, () => undefined)).toBeUndefined();
    expect(breach(temperature, () => 25)).toMatchObject({ value: 25, limit: { severity: 'warning', when: 'above' } });
    expect(breach(temperature, () => 27)).toMatchObject({
      value: 27,
      limit: { severity: 'critical', when: 'above', threshold: { value: 26 } },
    });
    expect(breach(temperature, () => 15)).toMatchObject({ limit: { severity: 'critical', when: 'below' } });
    // Each limit its own value: a warning's below and a critical's above at once, the critical wins.
    expect(breach(temperature, (l) => (l.when === 'above' ? 30 : 17))?.limit).toMatchObject({
      severity: 'critical',
      when: 'above',
    });
    expect(breach(temperature, (_, i) => (i === 0 ? 17 : undefined))?.limit).toBe(temperature.limits[0]);
  });

  it('keeps an inclusive limit inclusive, as the alert does', () => {
    const peak = find(floor.forZone('', JANUARY), 'noise_peak')!;
    expect(breach(peak, () => 134.9)).toBeUndefined();
    expect(breach(peak, () => 135)?.limit.severity).toBe('warning');
    expect(breach(peak, () => 137)?.limit.severity).toBe('critical');
  });

  it('zone-wide limits are the value and window aggregates; exposure and rates of rise are per device', () => {
    const wide = (key: string, zone: string) =>
      find(book([['s', { type: 'server_room' }]], 'winter').forZone(zone, JANUARY), key)!.limits.map(zoneWide);
    expect(wide('co2', '')).toEqual([true, true]);
    expect(wide('noise', '')).toEqual([true, true]);
    expect(wide('noise_exposure', '')).toEqual([false, false]);
    expect(wide('temperature_rise', 's')).toEqual([false]);
  });
});

describe('zone ids named after what every object has', () => {
  it('are zones like any other, and an unnamed one gets the unzoned answer', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const b = book([
      ['__proto__', { type: 'server_room', name: 'racks' }],
      ['constructor', { type: 'quiet_room', overrides: { noise: { warning: { above: 36 } } } }],
      ['toString', { type: 'call_floor' }],
    ]);
    expect(b.zones()).toEqual([
      { zone: '__proto__', name: 'racks', type: 'server_room' },
      { zone: 'constructor', type: 'quiet_room' },
      { zone: 'toString', type: 'call_floor' },
    ]);
    expect(b.forZone('__proto__', JANUARY).map((r) => r.key)).toEqual([
      'temperature',
      'humidity',
      'dew_point',
      'temperature_rise',
    ]);
    expect(find(b.forZone('constructor', JANUARY), 'noise')?.limits[0]?.threshold.source).toBe(
      'override in zones[constructor].rules.noise.warning.above',
    );
    expect(find(b.forZone('toString', JANUARY), 'noise')?.title).toMatch(/call floor/);
    for (const unnamed of ['hasOwnProperty', 'valueOf', '__defineGetter__'])
      expect(b.forZone(unnamed, JANUARY)).toBe(b.forZone('', JANUARY));
    for (const metric of ['constructor', 'toString', '__proto__'])
      expect(b.forMetric('constructor', metric, JANUARY)).toEqual([]);
    expect(() =>
      book([['toString', { type: 'call_floor', overrides: { humidity: { warning: { below: 65 } } } }]]),
    ).toThrow(/zone toString \(winter\): humidity: warning below 65 is not under warning above 60/);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
  });
});
