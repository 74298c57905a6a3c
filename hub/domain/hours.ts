// Opening hours as a site writes them: a day spec (mon, mon-fri, sat-sun, daily) and ranges
// "HH:MM-HH:MM", a range ending at or before its start crossing midnight. Pure.

export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** Minutes after local midnight: [start, end), end ≤ start when the range crosses midnight. */
export type Range = readonly [number, number];

/** The weekdays a day spec names (0 = Sunday), or undefined when it names none. */
export function daysOf(spec: string): number[] | undefined {
  if (spec === 'daily') return [0, 1, 2, 3, 4, 5, 6];
  const parts = spec.split('-');
  if (parts.length > 2) return undefined;
  const [from, to] = parts;
  const a = DAYS.indexOf(from as (typeof DAYS)[number]);
  if (a < 0) return undefined;
  if (to === undefined) return [a];
  const b = DAYS.indexOf(to as (typeof DAYS)[number]);
  if (b < 0) return undefined;
  const days: number[] = [];
  for (let d = a; ; d = (d + 1) % 7) {
    days.push(d);
    if (d === b) return days;
  }
}

/** A range "HH:MM-HH:MM" as minutes, or undefined when it is not one; "24:00" ends a day. */
export function rangeOf(text: string): Range | undefined {
  const m = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/.exec(text);
  if (!m) return undefined;
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  if (end > 24 * 60 || start === end) return undefined;
  return [start, end];
}

/** A moment as a site reads it on its wall clock. */
export interface LocalTime {
  /** "YYYY-MM-DD" */
  date: string;
  /** 0 = Sunday */
  weekday: number;
  /** Minutes after local midnight. */
  minute: number;
  /** Day of the month, 1-31, and how many days the month has. */
  day: number;
  daysInMonth: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** Days in a month (1-12) of a year. */
function monthLength(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The local date and time of a moment in a time zone (an IANA name the configuration checked). */
export function localTime(at: number, timeZone: string): LocalTime {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    // Time zones are the site's: a handful at most.
    if (formats.size < 64) formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  const year = Number(parts['year']);
  const month = Number(parts['month']);
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    weekday: DAYS.indexOf((parts['weekday'] ?? '').toLowerCase().slice(0, 3) as (typeof DAYS)[number]),
    minute: Number(parts['hour']) * 60 + Number(parts['minute']),
    day: Number(parts['day']),
    daysInMonth: monthLength(year, month),
  };
}

/** A local date "YYYY-MM-DD" moved by whole days (a calendar day: no change of clocks counts). */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** The local day before a local time's: its weekday and day of the month. */
export function previousDay(t: LocalTime): Pick<LocalTime, 'weekday' | 'day' | 'daysInMonth'> {
  if (t.day > 1) return { weekday: (t.weekday + 6) % 7, day: t.day - 1, daysInMonth: t.daysInMonth };
  // The last day of the month before: its day of the month is that month's length.
  const [year, month] = addDays(t.date, -1).split('-').map(Number);
  const daysInMonth = monthLength(year ?? 0, month ?? 0);
  return { weekday: (t.weekday + 6) % 7, day: daysInMonth, daysInMonth };
}
