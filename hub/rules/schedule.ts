// Occupancy: whether a zone is open (occupied) at a moment, from its opening hours per weekday in
// the site's time zone, hours that cross midnight belonging to the day they start on, and public
// holidays closed all day. A zone with no hours is always occupied. Comfort requirements start a
// warm-up after opening, so the heating or cooling has time to bring the room into its band.
// Pure; each answer is kept for the minute it was asked about, so judging every reading costs no
// date arithmetic.
import { addDays, daysOf, localTime, rangeOf, type Range } from '../domain/hours.ts';
import type { Applies } from '../domain/requirement.ts';

const MINUTE = 60_000;

export type Occupancy = 'occupied' | 'unoccupied';

export interface ScheduleSpec {
  /** Day spec (mon, mon-fri, sat-sun, daily) → "HH:MM-HH:MM" or a list of them. */
  hours?: Readonly<Record<string, string | readonly string[]>>;
  /** Closed all day, as local dates "YYYY-MM-DD". */
  holidays: ReadonlySet<string>;
  timeZone: string;
  warmUpMs: number;
}

/**
 * Public holidays from an iCalendar file: every local day each VEVENT covers, DTSTART to DTEND (a
 * date's end is exclusive; a time's end closes its own day unless it is midnight). Times in UTC
 * ("…Z") are taken in the site's time zone.
 */
export function holidaysFromICalendar(text: string, timeZone: string): string[] {
  const lines = text.replace(/\r?\n[ \t]/g, '').split(/\r?\n/);
  const dates: string[] = [];
  let start: string | undefined;
  let end: { date: string; inclusive: boolean } | undefined;
  const moment = (line: string) => {
    const m = /:(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?/.exec(line);
    if (!m) return undefined;
    const [, y, mo, d, h, mi, s, utc] = m;
    const date =
      utc === 'Z'
        ? localTime(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)), timeZone).date
        : `${y}-${mo}-${d}`;
    return { date, timed: h !== undefined && `${h}${mi}${s}` !== '000000' };
  };
  for (const line of lines) {
    if (line.startsWith('BEGIN:VEVENT')) start = end = undefined;
    else if (line.startsWith('DTSTART')) start = moment(line)?.date;
    else if (line.startsWith('DTEND')) {
      const m = moment(line);
      end = m && { date: m.date, inclusive: m.timed };
    } else if (line.startsWith('END:VEVENT') && start !== undefined) {
      const last = end === undefined ? start : end.inclusive ? end.date : addDays(end.date, -1);
      // A year at most: a mistyped end date cannot make thousands of holidays.
      for (let d = start, n = 0; d <= last && n < 366; d = addDays(d, 1), n++) dates.push(d);
    }
  }
  return dates;
}

export class Schedule {
  /** Per weekday (0 = Sunday), the ranges starting that day. */
  private readonly week: Range[][] | undefined;
  /** Answers by minute, the few last asked (now, and a warm-up ago). */
  private readonly cached = new Map<number, Occupancy>();

  constructor(private readonly spec: ScheduleSpec) {
    if (spec.hours === undefined) return;
    const week: Range[][] = [[], [], [], [], [], [], []];
    for (const [days, ranges] of Object.entries(spec.hours))
      for (const day of daysOf(days) ?? [])
        for (const text of typeof ranges === 'string' ? [ranges] : ranges) {
          const range = rangeOf(text);
          if (range) week[day]?.push(range);
        }
    this.week = week;
  }

  /** Whether the zone is open at `at`. */
  occupancy(at: number): Occupancy {
    const minute = Math.floor(at / MINUTE);
    const known = this.cached.get(minute);
    if (known !== undefined) return known;
    const state = this.compute(at);
    if (this.cached.size >= 8) this.cached.delete(this.cached.keys().next().value ?? minute);
    this.cached.set(minute, state);
    return state;
  }

  /** Whether a requirement that applies `applies` is judged at `at`. */
  judges(applies: Applies, at: number): boolean {
    if (applies === 'always') return true;
    if (applies === 'unoccupied') return this.occupancy(at) === 'unoccupied';
    // Comfort from a warm-up after opening: open now, and already open a warm-up ago.
    return (
      this.occupancy(at) === 'occupied' &&
      (this.spec.warmUpMs === 0 || this.occupancy(at - this.spec.warmUpMs) === 'occupied')
    );
  }

  private compute(at: number): Occupancy {
    const week = this.week;
    if (!week) return 'occupied';
    const { date, weekday: day, minute } = localTime(at, this.spec.timeZone);
    const { holidays } = this.spec;
    const today = holidays.has(date) ? [] : (week[day] ?? []);
    // Ranges that started yesterday and cross midnight belong to yesterday's hours.
    const yesterday = holidays.has(addDays(date, -1)) ? [] : (week[(day + 6) % 7] ?? []);
    const open =
      today.some(([s, e]) => (e > s ? minute >= s && minute < e : minute >= s)) ||
      yesterday.some(([s, e]) => e <= s && minute < e);
    return open ? 'occupied' : 'unoccupied';
  }
}
