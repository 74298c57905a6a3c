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
