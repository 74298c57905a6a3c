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

/** ms since epoch, an ISO 8601 date, or a time relative to now such as "-15m". */
export function parseTime(name: string, value: string | undefined, now: number, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (/^-?\d+$/.test(value)) return Number(value);
  if (value.startsWith('-')) {
    const ago = parseDuration(value.slice(1));
    if (ago !== undefined) return now - ago;
  }
  const parsed = Date.parse(value);
  if (!Number.isNaN(parsed) && /^\d{4}-\d{2}-\d{2}/.test(value)) return parsed;
  throw new BadRequest(`${name}=${JSON.stringify(value)} is not a time: use ms since 1970, an ISO 8601 date, or a relative time such as -15m`);
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

export function parseWindow(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const window = parseDuration(value);
  if (window === undefined || window < 1000) throw new BadRequest(`${name}=${JSON.stringify(value.slice(0, 40))} must be a duration of at least 1s, such as 1m or 15m`);
  return window;
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
