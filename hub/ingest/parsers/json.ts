// Plain JSON telemetry: {"ts": 1764460800000, "seq": 812, "temperature": 23.4, "humidity": 41}
import { Rejection } from '../rejection.ts';
import type { ParsedValue } from './parsed.ts';

export function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new Rejection('invalid_json', `payload is not valid JSON: ${(err as Error).message}`);
  }
}

export function optionalTimestamp(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 8.64e15) {
    throw new Rejection(
      'invalid_timestamp',
      `"${field}" must be milliseconds since 1970 as a number, found ${JSON.stringify(value)}`,
    );
  }
  return Math.round(value);
}

export function optionalSeq(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Rejection('invalid_payload', `"seq" must be a whole number ≥ 0, found ${JSON.stringify(value)}`);
  }
  return value;
}

export function parseJsonTelemetry(doc: Record<string, unknown>): ParsedValue[] {
  const ts = optionalTimestamp(doc.ts, 'ts');
  const seq = optionalSeq(doc.seq);
  const values: ParsedValue[] = [];
  // for...in rather than Object.entries: no array per field, for every message. Own fields only,
  // as JSON.parse makes them (a "__proto__" key included): nothing a polluted prototype lends.
  for (const metric in doc) {
    if (metric === 'ts' || metric === 'seq' || !Object.hasOwn(doc, metric)) continue;
    const parsed: ParsedValue = { metric, value: doc[metric] };
    if (ts !== undefined) parsed.ts = ts;
    if (seq !== undefined) parsed.seq = seq;
    values.push(parsed);
  }
  if (values.length === 0)
    throw new Rejection(
      'invalid_payload',
      'telemetry object has no readings (expected fields such as "temperature": 23.4)',
    );
  return values;
}
