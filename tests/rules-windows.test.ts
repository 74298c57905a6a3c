// Recurring maintenance windows: weekly on some days or monthly on the nth weekday, from a local
// time, crossing midnight, in the site's time zone; and the rule engine holding notifications in
// exactly those windows, sending what they held once each ends, across two weeks.
import { afterEach, describe, expect, it } from 'vitest';
import { inWindow, type Recurrence } from '../hub/domain/alert.ts';
import { engineFixture, MINUTE, type EngineFixture } from './rules-fixtures.ts';

const HOUR = 60 * MINUTE;
/** Monday 30 November 2026, 00:00 in Shanghai (UTC+8). */
const MONDAY = Date.UTC(2026, 10, 29, 16, 0);

function windows(r: Recurrence, from: number, days: number, step = 15 * MINUTE): string[] {
  const inside: string[] = [];
  for (let t = from; t < from + days * 24 * HOUR; t += step)
    if (inWindow(r, t))
      inside.push(`${Math.floor((t - MONDAY) / (24 * HOUR))}d ${((t - MONDAY) % (24 * HOUR)) / HOUR}h`);
  return inside;
}

describe('recurring windows', () => {
  it('weekly: Tuesday 02:00–04:00, in both weeks and nowhere else', () => {
    const r: Recurrence = {
      every: 'week',
      days: [2],
      startMinute: 120,
      durationMs: 2 * HOUR,
      timeZone: 'Asia/Shanghai',
    };
    expect(windows(r, MONDAY, 14)).toEqual([
      ...['1d 2h', '1d 2.25h', '1d 2.5h', '1d 2.75h', '1d 3h', '1d 3.25h', '1d 3.5h', '1d 3.75h'],
      ...['8d 2h', '8d 2.25h', '8d 2.5h', '8d 2.75h', '8d 3h', '8d 3.25h', '8d 3.5h', '8d 3.75h'],
    ]);
  });

  it('crossing midnight: Saturday 23:00 for 3 hours runs into Sunday', () => {
    const r: Recurrence = {
      every: 'week',
      days: [6],
      startMinute: 23 * 60,
      durationMs: 3 * HOUR,
      timeZone: 'Asia/Shanghai',
    };
    expect(windows(r, MONDAY, 7, HOUR)).toEqual(['5d 23h', '6d 0h', '6d 1h']);
  });

  it('runs past midnight into the day after a change of clocks (Europe/London, 29 March 2026)', () => {
    const r: Recurrence = {
      every: 'week',
      days: [0],
      startMinute: 22 * 60,
      durationMs: 4 * HOUR,
      timeZone: 'Europe/London',
    };
    expect(inWindow(r, Date.UTC(2026, 2, 29, 21, 30))).toBe(true); // Sunday 22:30 BST
    expect(inWindow(r, Date.UTC(2026, 2, 29, 23, 30))).toBe(true); // Monday 00:30 BST
    expect(inWindow(r, Date.UTC(2026, 2, 30, 1, 0))).toBe(false); // Monday 02:00 BST
  });

  it('monthly: the 3rd Tuesday, and the last Monday', () => {
    const third: Recurrence = {
      every: 'month',
      nth: 3,
      weekday: 2,
      startMinute: 60,
      durationMs: HOUR,
      timeZone: 'UTC',
    };
    const days = (r: Recurrence) => {
      const found: string[] = [];
      for (let t = Date.UTC(2026, 11, 1, 1, 30); t < Date.UTC(2027, 1, 1); t += 24 * HOUR)
        if (inWindow(r, t)) found.push(new Date(t).toISOString().slice(0, 10));
      return found;
    };
    expect(days(third)).toEqual(['2026-12-15', '2027-01-19']);
    expect(days({ ...third, nth: -1, weekday: 1 })).toEqual(['2026-12-28', '2027-01-25']);
  });
});

describe('the rules in a maintenance window', () => {
  let f: EngineFixture;
  afterEach(() => f.close());

  it('holds notifications in the window only, and sends what it held when the window ends', () => {
    f = engineFixture(
      {
        site: { timezone: 'Asia/Shanghai' },
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        rules: { startup_grace: '0s', escalate_after: '1d' },
      },
      MONDAY,
    );
    f.engine.addSilence({
      matchers: { kind: 'equipment', zone: 'floor-a' },
      startsAt: MONDAY,
      endsAt: MONDAY + 30 * 24 * HOUR,
      recurrence: { every: 'week', days: [2], startMinute: 120, durationMs: 2 * HOUR, timeZone: 'Asia/Shanghai' },
      createdBy: 'li.wei',
      comment: 'PC patching',
    });
    const beat = (device: string, state: 'ok' | 'fault') =>
      f.feed({
        type: 'heartbeat',
        heartbeat: { device, zone: 'floor-a', ts: f.clock.t, kind: 'pc', status: state, components: {} },
      });
    const to = (t: number) => {
      while (f.clock.t < t) {
        f.clock.advance(Math.min(MINUTE, t - f.clock.t));
        f.tick();
      }
    };
    // Tuesday 02:30: held. 04:00: sent late, once.
    to(MONDAY + 24 * HOUR + 2.5 * HOUR);
    beat('pc-1', 'fault');
    expect(f.of('firing', 'equipment.pc-1').map((e) => e.notified)).toEqual([false]);
    to(MONDAY + 24 * HOUR + 4 * HOUR + MINUTE);
    expect(f.of('firing', 'equipment.pc-1', true).map((e) => [e.late, e.at - MONDAY])).toEqual([
      [true, 24 * HOUR + 4 * HOUR],
    ]);
    // Tuesday 04:30, outside: at once. The next Tuesday 02:10, inside again.
    beat('pc-2', 'fault');
    expect(f.of('firing', 'equipment.pc-2').map((e) => e.notified)).toEqual([true]);
    f.clock.advance(MONDAY + 8 * 24 * HOUR + 2 * HOUR + 10 * MINUTE - f.clock.t);
    beat('pc-3', 'fault');
    expect(f.of('firing', 'equipment.pc-3').map((e) => e.notified)).toEqual([false]);
  });
});
