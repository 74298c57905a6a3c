// The `silences` section: maintenance windows the site keeps in its file (the lift serviced every
// third Tuesday, a planned shutdown of the server room), held as the API's silences are but owned
// by the file: a reload adds, changes and ends them as the file says. The shape of a recurring
// window is the API's own.
import { z } from 'zod';
import { ALERT_KINDS, RULE_PATTERN, type Recurrence, type Silence } from '../domain/alert.ts';
import { DAYS } from '../domain/hours.ts';
import { SEVERITIES } from '../domain/requirement.ts';
import { parseDuration } from './duration.ts';
import { id, listedOnce, notListed } from './fields.ts';

const DAY_NAMES = DAYS.join(', ');

/** A weekday by name, as its number (0 = Sunday); the error is placed at the field by its path. */
const dayNumber = z
  .string({ error: `must be a day: ${DAY_NAMES}` })
  .refine((d) => (DAYS as readonly string[]).includes(d), { error: `must be a day: ${DAY_NAMES}` })
  .transform((d) => DAYS.indexOf(d as (typeof DAYS)[number]));
/** A maintenance window that comes back: {"every": "week", "days": ["tue"], "start": "02:00", "duration": "2h"}. */
export const recurrenceSchema = z
  .strictObject(
    {
      every: z.enum(['week', 'month'], { error: 'recurrence.every must be week or month' }),
      days: z.array(dayNumber).min(1).max(7).optional(),
      nth: z
        .union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(-1)], {
          error: 'recurrence.nth must be 1, 2, 3, 4, or -1 for the last',
        })
        .optional(),
      weekday: dayNumber.optional(),
      start: z
        .string()
        .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'recurrence.start must be a time of day such as "02:00"' }),
      duration: z.string().refine((d) => (parseDuration(d) ?? 0) > 0 && (parseDuration(d) ?? 0) <= 86_400_000, {
        error: 'recurrence.duration must be a duration of at most a day, such as "2h"',
      }),
    },
    {
      error:
        'recurrence must be an object such as {"every": "week", "days": ["tue"], "start": "02:00", "duration": "2h"}',
    },
  )
  .superRefine((r, ctx) => {
    if (r.every === 'week' && r.days === undefined)
      ctx.addIssue({ code: 'custom', message: 'a weekly recurrence needs days, such as ["tue"]', input: r });
    if (r.every === 'month' && (r.nth === undefined || r.weekday === undefined))
      ctx.addIssue({
        code: 'custom',
        message: 'a monthly recurrence needs nth and weekday, such as {"nth": 3, "weekday": "tue"} for the 3rd Tuesday',
        input: r,
      });
  });

/** A recurring window as the rules keep it: wall-clock times in the site's time zone. */
export function toRecurrence(r: z.output<typeof recurrenceSchema>, timeZone: string): Recurrence {
  const [hh, mm] = r.start.split(':').map(Number);
  return {
    every: r.every,
    ...(r.days && { days: r.days }),
    ...(r.nth !== undefined && { nth: r.nth }),
    ...(r.weekday !== undefined && { weekday: r.weekday }),
    startMinute: (hh ?? 0) * 60 + (mm ?? 0),
    durationMs: parseDuration(r.duration) ?? 0,
    timeZone,
  };
}

const moment = z.iso.datetime({
  offset: true,
  error: 'must be a date and time with its offset, such as 2026-12-24T18:00:00+01:00',
});

const silenceSchema = z
  .strictObject({
    /** Names the silence in the file: who silenced, in the API and the audit log, is "configuration (name)". */
    name: id,
    matchers: z
      .strictObject({
        zone: id.optional(),
        device: id.optional(),
        rule: z
          .string()
          .regex(RULE_PATTERN, {
            error: 'must be a rule name such as noise, offline or equipment.headset',
          })
          .optional(),
        severity: z.enum(SEVERITIES).optional(),
        kind: z.enum(ALERT_KINDS).optional(),
        key: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/, { error: 'must be an alert key such as offline.hs-a2' })
          .optional(),
      })
      .refine((m) => Object.keys(m).length > 0, {
        error: 'needs at least one of zone, device, rule, severity, kind, key: a silence of everything is not allowed',
      }),
    recurrence: recurrenceSchema.optional(),
    /** In force from (default: as soon as it is in the file) until (needed unless it recurs). */
    from: moment.optional(),
    until: moment.optional(),
    comment: z.string().max(1000).default(''),
  })
  .superRefine((s, ctx) => {
    if (s.recurrence === undefined && s.until === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['until'],
        message: 'a silence that does not recur needs until: when it ends',
        input: s.until,
      });
    if (s.from !== undefined && s.until !== undefined && Date.parse(s.until) <= Date.parse(s.from))
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'must be after from', input: s.until });
  });

export const silencesSection = z.array(silenceSchema).max(1000).default([]);

/** Who the file's silences are created by, as the API and the audit log show it. */
export const FILE_SILENCE = 'configuration';

/** Whether a silence is one the file keeps (and a reload may end). */
export function isFileSilence(s: Pick<Silence, 'createdBy'>): boolean {
  return s.createdBy.startsWith(`${FILE_SILENCE} (`);
}

/** The latest moment a Date can hold: a silence from the file with no end lasts while it is in the file. */
const NO_END = 8.64e15;

/** The file's silences as the rules hold them. */
export function fileSilences(
  silences: z.output<typeof silencesSection>,
  timeZone: string,
): Omit<Silence, 'id' | 'createdAt'>[] {
  return silences.map((s) => ({
    matchers: s.matchers,
    startsAt: s.from === undefined ? 0 : Date.parse(s.from),
    endsAt: s.until === undefined ? NO_END : Date.parse(s.until),
    ...(s.recurrence && { recurrence: toRecurrence(s.recurrence, timeZone) }),
    createdBy: `${FILE_SILENCE} (${s.name})`,
    comment: s.comment,
  }));
}

/** Each silence named once, and a zone it names one the file has. */
export function checkSilences(
  cfg: { silences: z.output<typeof silencesSection>; zones: readonly { id: string }[] },
  ctx: z.core.$RefinementCtx,
): void {
  const zones = new Set(cfg.zones.map((z) => z.id));
  cfg.silences.forEach((s, i) => {
    const { zone } = s.matchers;
    if (zone !== undefined && zone !== 'unassigned' && !zones.has(zone))
      ctx.addIssue({
        code: 'custom',
        path: ['silences', i, 'matchers', 'zone'],
        message: notListed('zone', zone, 'zones', zones),
        input: zone,
      });
  });
  listedOnce(
    cfg.silences.map((s) => s.name),
    'silence',
    (i) => ['silences', i, 'name'],
    ctx,
  );
}
