// The parameters the API's routes share, as zod schemas. Every refusal names the parameter,
// shows the value given (cut short) and says what is accepted, so whoever reads the 400 knows
// what to change. Times relative to now ("-15m") depend on the moment of the request: a route's
// query schema resolves them all against one reading of its clock (resolveTime).
import { z } from 'zod';
import { parseDuration } from '../config/duration.ts';
import { hidesCharacters, ID_PATTERN, METRIC_PATTERN, SIGNED_NAME_MAX, idProblem } from '../domain/reading.ts';

/** Where a value came from: a query string holds text, and a key given twice arrives as a list. */
export type Source = 'query' | 'body';

const shown = (value: string, max = 80) => JSON.stringify(value.slice(0, max));

function notText(name: string, input: unknown, source: Source, required: string): string {
  if (input === undefined) return required;
  return source === 'query' && Array.isArray(input) ? `${name} was given more than once` : `${name} must be text`;
}

/** One text value. */
export function textParam(name: string, options: { source?: Source; required?: string } = {}) {
  const { source = 'query', required = `${name} is required` } = options;
  return z.string({ error: (issue) => notText(name, issue.input, source, required) });
}

/** A device, gateway or zone id. The pattern is for /docs; the check words what is wrong with an id. */
export function idParam(name: string, source: Source = 'query') {
  return textParam(name, { source })
    .superRefine((value, ctx) => {
      const problem = idProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: `${name}=${shown(value)} ${problem}` });
    })
    .meta({ pattern: ID_PATTERN.source });
}

export function metricParam(name: string, required?: string) {
  return textParam(name, required === undefined ? {} : { required })
    .superRefine((value, ctx) => {
      if (!METRIC_PATTERN.test(value))
        ctx.addIssue({ code: 'custom', message: `${name}=${shown(value)} must be a metric name such as temperature` });
    })
    .meta({ pattern: METRIC_PATTERN.source });
}

export function choiceParam<const T extends readonly string[]>(name: string, allowed: T, source: Source = 'query') {
  return z.enum(allowed, {
    error: (issue) =>
      typeof issue.input === 'string'
        ? `${name}=${shown(issue.input, 40)} is not one of ${allowed.join(', ')}`
        : notText(name, issue.input, source, `${name} is required`),
  });
}

/** The word true or false. */
export function flagParam(name: string) {
  return z.enum(['true', 'false'], {
    error: (issue) =>
      typeof issue.input === 'string'
        ? `${name}=${shown(issue.input, 20)} must be true or false`
        : notText(name, issue.input, 'query', `${name} is required`),
  });
}

/** Aggregation windows: whole milliseconds from 1 s to a year. */
const MAX_WINDOW_MS = 366 * 86_400_000;

/** A duration as written, and its length. */
export interface Window {
  text: string;
  ms: number;
}

export function windowParam(name: string) {
  return textParam(name).transform((text, ctx): Window => {
    const window = parseDuration(text);
    if (window !== undefined && window >= 1000 && window <= MAX_WINDOW_MS) return { text, ms: Math.round(window) };
    ctx.addIssue({
      code: 'custom',
      message: `${name}=${shown(text, 40)} must be a duration from 1s to 366d, such as 1m or 15m`,
    });
    return z.NEVER;
  });
}

/** A count from 1 to `max`. */
export function limitParam(name: string, max: number) {
  return textParam(name).transform((text, ctx) => {
    const n = Number(text);
    if (Number.isInteger(n) && n >= 1 && n <= max) return n;
    ctx.addIssue({ code: 'custom', message: `${name}=${shown(text, 40)} must be a whole number from 1 to ${max}` });
    return z.NEVER;
  });
}

/** Up to 15 digits, so always a safe integer. */
const SERIAL = /^\d{1,15}$/;

/** A path parameter numbering a stored record: an alert, a silence. */
export function serialParam(what: string) {
  return textParam(what)
    .transform((text, ctx) => {
      if (SERIAL.test(text)) return Number(text);
      ctx.addIssue({ code: 'custom', message: `${what} ${shown(text, 40)} must be a whole number` });
      return z.NEVER;
    })
    .meta({ pattern: SERIAL.source });
}

/**
 * The times the API takes: 1970 to the end of year 9999, what an ISO 8601 date with a four-digit
 * year can say. Anything further is a typo or a probe, and would overflow the date arithmetic of
 * the routes and stores behind (JavaScript dates end in 275760, InfluxDB's in 2262).
 */
const EARLIEST_MS = 0;
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const TIME_FORMS = 'ms since 1970, an ISO 8601 date, or a relative time such as -15m';

/**
 * A time parameter (ms since epoch, an ISO 8601 date, or relative to `now` such as "-15m") as ms,
 * `fallback` when it is absent or empty; undefined, with the problem added to `ctx`, when it is
 * not a time the hub can handle.
 */
export function resolveTime(
  ctx: z.RefinementCtx,
  name: string,
  value: string | undefined,
  now: number,
  fallback: number,
): number | undefined {
  if (value === undefined || value === '') return fallback;
  const time = timeOf(value, now);
  const problem =
    time === undefined
      ? `is not a time: use ${TIME_FORMS}`
      : !(time >= EARLIEST_MS && time <= LATEST_MS)
        ? `is outside the times the hub can handle: give one from 1970-01-01 to 9999-12-31 (${TIME_FORMS})`
        : undefined;
  if (problem === undefined) return time;
  ctx.addIssue({ code: 'custom', path: [name], message: `${name}=${shown(value)} ${problem}` });
  return undefined;
}

function timeOf(value: string, now: number): number | undefined {
  if (/^-?\d+$/.test(value)) return Number(value);
  if (value.startsWith('-')) {
    const ago = parseDuration(value.slice(1));
    if (ago !== undefined) return Math.round(now - ago);
  }
  const parsed = Date.parse(value);
  if (!Number.isNaN(parsed) && /^\d{4}-\d{2}-\d{2}/.test(value)) return parsed;
  return undefined;
}

/** A problem found across parameters, for a query or body schema's own checks. */
export function refuse(ctx: z.RefinementCtx, message: string): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

/**
 * Who is acting, in their own words, in a body: required, one line of at most SIGNED_NAME_MAX
 * characters. The name goes into alert summaries, notifications and the audit log, where a line
 * break would start a line of its own making.
 */
export function signedBy(name: string) {
  const missing = `${name} is required: say who you are, e.g. {"${name}": "li.wei"}`;
  const problem = `${name} must be text of at most ${SIGNED_NAME_MAX} characters`;
  return (
    z
      .string({ error: (issue) => (issue.input === undefined || issue.input === null ? missing : problem) })
      // A name too long is not looked into further: a megabyte of joiners would cost the hub its time.
      .max(SIGNED_NAME_MAX, { error: problem, abort: true })
      .refine((who) => /\S/.test(who), { error: missing })
      .refine((who) => !hidesCharacters(who), {
        error: `${name} must be one line of plain text: no line breaks, tabs, control or invisible formatting characters`,
      })
  );
}
