// Query-string parameters shared by the API routes. Every problem becomes a 400 that names the
// parameter, the value and what is accepted.
import { parseDuration } from '../config/duration.ts';
import { METRIC_PATTERN, idProblem } from '../domain/reading.ts';

export class BadRequest extends Error {
  readonly statusCode = 400;
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

/**
 * The times the API takes: 1970 to the end of year 9999, what an ISO 8601 date with a four-digit
 * year can say. Anything further is a typo or a probe, and would overflow the date arithmetic of
 * the routes and stores behind (JavaScript dates end in 275760, InfluxDB's in 2262).
 */
const EARLIEST_MS = 0;
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const TIME_FORMS = 'ms since 1970, an ISO 8601 date, or a relative time such as -15m';

/** ms since epoch, an ISO 8601 date, or a time relative to now such as "-15m". */
export function parseTime(name: string, value: string | undefined, now: number, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const shown = JSON.stringify(value.slice(0, 80));
  const time = timeOf(value, now);
  if (time === undefined) throw new BadRequest(`${name}=${shown} is not a time: use ${TIME_FORMS}`);
  if (!(time >= EARLIEST_MS && time <= LATEST_MS)) throw new BadRequest(`${name}=${shown} is outside the times the hub can handle: give one from 1970-01-01 to 9999-12-31 (${TIME_FORMS})`);
  return time;
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

export function parseId(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const problem = idProblem(value);
  if (problem) throw new BadRequest(`${name}=${JSON.stringify(value.slice(0, 80))} ${problem}`);
  return value;
}

export function parseMetric(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!METRIC_PATTERN.test(value)) throw new BadRequest(`${name}=${JSON.stringify(value.slice(0, 80))} must be a metric name such as temperature`);
  return value;
}

export function parseChoice<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new BadRequest(`${name}=${JSON.stringify(value.slice(0, 40))} is not one of ${allowed.join(', ')}`);
}

/** Aggregation windows: whole milliseconds from 1 s to a year. */
const MAX_WINDOW_MS = 366 * 86_400_000;

export function parseWindow(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const window = parseDuration(value);
  if (window === undefined || window < 1000 || window > MAX_WINDOW_MS) throw new BadRequest(`${name}=${JSON.stringify(value.slice(0, 40))} must be a duration from 1s to 366d, such as 1m or 15m`);
  return Math.round(window);
}

export function parseLimit(name: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new BadRequest(`${name}=${JSON.stringify(value.slice(0, 40))} must be a whole number from 1 to ${max}`);
  return n;
}

/** Query strings are strings; a repeated parameter arrives as an array, which we refuse by name. */
export function single(query: unknown, name: string): string | undefined {
  const value = (query as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequest(`${name} was given more than once`);
  return value;
}
