// Occupancy from opening hours in the site's time zone: weekday runs, hours that cross midnight,
// public holidays (listed, or from an iCalendar file), the warm-up before comfort is judged, a
// change of clocks; and the rule engine on it: an HVAC set back at night raises no comfort alert,
// a room still cold half an hour after opening does, and closing time ends a comfort alert.
import { afterEach, describe, expect, it } from 'vitest';
import { holidaysFromICalendar, Schedule } from '../hub/rules/schedule.ts';
import { engineFixture, MINUTE, type EngineFixture } from './rules-fixtures.ts';

const HOUR = 60 * MINUTE;
/** Monday 30 November 2026, 00:00 in Shanghai (UTC+8, no summer time). */
const MONDAY = Date.UTC(2026, 10, 29, 16, 0);
const at = (day: number, hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return MONDAY + day * 24 * HOUR + (h ?? 0) * HOUR + (m ?? 0) * MINUTE;
};

describe('a zone’s schedule', () => {
  const schedule = new Schedule({
    hours: { 'mon-fri': '08:00-20:00', sat: ['09:00-12:00', '22:00-02:00'] },
    holidays: new Set(['2026-12-02']),
    timeZone: 'Asia/Shanghai',
    warmUpMs: 15 * MINUTE,
  });

  it('is occupied in its hours on its days, in the site’s time zone', () => {
    expect(schedule.occupancy(at(0, '07:59'))).toBe('unoccupied');
    expect(schedule.occupancy(at(0, '08:00'))).toBe('occupied');
    expect(schedule.occupancy(at(0, '19:59'))).toBe('occupied');
    expect(schedule.occupancy(at(0, '20:00'))).toBe('unoccupied');
    expect(schedule.occupancy(at(6, '10:00'))).toBe('unoccupied'); // Sunday
  });

  it('counts hours that cross midnight to the day they start on, and closes holidays all day', () => {
    expect(schedule.occupancy(at(5, '23:00'))).toBe('occupied'); // Saturday night
    expect(schedule.occupancy(at(6, '01:59'))).toBe('occupied'); // into Sunday
    expect(schedule.occupancy(at(6, '02:00'))).toBe('unoccupied');
    expect(schedule.occupancy(at(5, '12:30'))).toBe('unoccupied');
    expect(schedule.occupancy(at(2, '10:00'))).toBe('unoccupied'); // Wednesday 2 December, a holiday
    expect(schedule.occupancy(at(3, '10:00'))).toBe('occupied');
  });

  it('judges comfort from a warm-up after opening, set-back outside the hours, and safety always', () => {
    expect(schedule.judges('occupied', at(0, '08:10'))).toBe(false);
    expect(schedule.judges('occupied', at(0, '08:15'))).toBe(true);
    expect(schedule.judges('unoccupied', at(0, '08:10'))).toBe(false);
    expect(schedule.judges('unoccupied', at(0, '20:00'))).toBe(true);
    expect(schedule.judges('always', at(0, '03:00'))).toBe(true);
  });

  it('follows the clocks when they change (Europe/London, 29 March 2026)', () => {
    const london = new Schedule({
      hours: { daily: '08:00-20:00' },
      holidays: new Set(),
      timeZone: 'Europe/London',
      warmUpMs: 0,
    });
    expect(london.occupancy(Date.UTC(2026, 2, 28, 8, 0))).toBe('occupied'); // GMT
    expect(london.occupancy(Date.UTC(2026, 2, 29, 7, 0))).toBe('occupied'); // 08:00 BST
    expect(london.occupancy(Date.UTC(2026, 2, 29, 6, 59))).toBe('unoccupied');
  });

  it('without hours, is always occupied', () => {
    const open = new Schedule({ holidays: new Set(['2026-11-30']), timeZone: 'UTC', warmUpMs: 15 * MINUTE });
    expect(open.occupancy(at(0, '03:00'))).toBe('occupied');
    expect(open.judges('occupied', at(0, '03:00'))).toBe(true);
    expect(open.judges('unoccupied', at(0, '03:00'))).toBe(false);
  });

  it('reads public holidays from an iCalendar file: single days, several days, folded lines', () => {
    const ics = [
      'BEGIN:VCALENDAR',
      'BEGIN:VEVENT',
      'DTSTART;VALUE=DATE:20261225',
      'DTEND;VALUE=DATE:20261227',
      'SUMMARY:Christmas Day and Boxing',
      '  Day',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'DTSTART;VALUE=DATE:20270101',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'DTSTART:20270405T000000',
      'DTEND:20270406T000000',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'DTSTART:20270505T090000',
      'DTEND:20270505T170000',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'DTSTART:20270630T230000Z',
      'END:VEVENT',
      'END:VCALENDAR',
    ].join('\r\n');
    // A timed event closes its own day; a UTC time is the site's local date (Shanghai: 1 July).
    expect(holidaysFromICalendar(ics, 'Asia/Shanghai')).toEqual([
      '2026-12-25',
      '2026-12-26',
      '2027-01-01',
      '2027-04-05',
      '2027-05-05',
      '2027-07-01',
    ]);
  });
});

describe('the rules on a schedule', () => {
  let f: EngineFixture;
  afterEach(() => f.close());

  it('raises no comfort alert on a set-back night, one when the room is still cold 30 min after opening, and ends it at closing', () => {
    f = engineFixture(
      {
        site: { season: 'winter', timezone: 'Asia/Shanghai', hours: { 'mon-fri': '08:00-20:00' } },
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        rules: { startup_grace: '0s' },
      },
      at(0, '00:00'),
    );
    const readings = (until: number, value: number) => {
      while (f.clock.t < until) {
        f.reading('t-1', 'temperature', value, f.clock.t, 'floor-a');
        f.tick();
        f.clock.advance(MINUTE);
      }
    };
    // 15 °C all night: outside comfort (18–24) but inside the set-back band (12–30).
    readings(at(0, '08:00'), 15);
    expect(f.events).toEqual([]);
    readings(at(0, '09:00'), 15);
    const firing = f.of('firing', 'temperature.t-1');
    expect(firing.map((e) => e.at)).toEqual([at(0, '08:30')]);
    // Still cold at closing: the comfort alert ends, saying why; the set-back band takes over.
    f.clock.advance(at(0, '19:55') - f.clock.t);
    readings(at(0, '20:05'), 15);
    const resolved = f.of('resolved', 'temperature.t-1');
    expect(resolved.map((e) => e.at)).toEqual([at(0, '20:00')]);
    expect(resolved[0]?.alert.summary).toContain('not judged now, the zone is unoccupied');
    // Colder than the set-back band at night: the set-back requirement alerts.
    readings(at(0, '20:30'), 10);
    expect(f.of('firing', 'temperature_setback.t-1').map((e) => e.alert.severity)).toEqual(['warning']);
  });
});
