// SenML (RFC 8428) telemetry in its JSON form: an array of records whose base fields (bn, bt, bu,
// bv) carry over to the records after them until another base field replaces them.
import { Rejection } from '../rejection.ts';
import type { ParsedValue } from './parsed.ts';

/** RFC 8428 §4.5.3: a resolved time below 2^28 s is relative to now. */
const RELATIVE_TIME_LIMIT_S = 2 ** 28;

interface Base {
  name: string;
  time: number;
  unit?: string;
  value: number;
}

function field(record: Record<string, unknown>, key: string, type: 'string', index: number): string | undefined;
function field(record: Record<string, unknown>, key: string, type: 'number', index: number): number | undefined;
function field(record: Record<string, unknown>, key: string, type: 'string' | 'number', index: number): unknown {
  const value = record[key];
  if (value === undefined) return undefined;
  if (typeof value !== type || (typeof value === 'number' && !Number.isFinite(value))) {
    throw new Rejection('invalid_senml', `record ${index}: "${key}" must be a ${type}, found ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Resolves a SenML pack. `now` (ms) anchors relative times. A resolved name "t-17/temperature"
 * yields device "t-17" and metric "temperature"; a name without "/" is a metric of the topic's device.
 */
export function parseSenml(pack: unknown[], now: number): ParsedValue[] {
  if (pack.length === 0) throw new Rejection('invalid_senml', 'SenML pack is empty');
  const base: Base = { name: '', time: 0, value: 0 };
  const values: ParsedValue[] = [];
  pack.forEach((item, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new Rejection('invalid_senml', `record ${index} is not an object`);
    }
    const record = item as Record<string, unknown>;
    const bver = field(record, 'bver', 'number', index);
    if (bver !== undefined && bver > 10)
      throw new Rejection('invalid_senml', `record ${index}: SenML version ${bver} is not supported (10 or lower)`);
    const bn = field(record, 'bn', 'string', index);
    const bt = field(record, 'bt', 'number', index);
    const bu = field(record, 'bu', 'string', index);
    const bv = field(record, 'bv', 'number', index);
    if (bn !== undefined) base.name = bn;
    if (bt !== undefined) base.time = bt;
    if (bu !== undefined) base.unit = bu;
    if (bv !== undefined) base.value = bv;

    const n = field(record, 'n', 'string', index) ?? '';
    const name = base.name + n;
    const hasValue = ['v', 'vs', 'vb', 'vd', 's'].some((k) => record[k] !== undefined);
    if (!hasValue) {
      // A record of base fields alone is legal; one with a name but no value is not.
      if (n !== '') throw new Rejection('invalid_senml', `record ${index} ("${name}") has no value`);
      return;
    }
    if (record.v === undefined) {
      throw new Rejection(
        'invalid_senml',
        `record ${index} ("${name}"): only numeric values ("v") are accepted, not vs/vb/vd/s`,
      );
    }
    if (name === '') throw new Rejection('invalid_senml', `record ${index} has a value but no name (n or bn)`);

    const t = field(record, 't', 'number', index) ?? 0;
    const timeS = base.time + t;
    const ts = timeS < RELATIVE_TIME_LIMIT_S ? now + timeS * 1000 : timeS * 1000;
    const u = field(record, 'u', 'string', index) ?? base.unit;
    const raw = record.v;
    const value = typeof raw === 'number' ? raw + base.value : raw;

    const slash = name.lastIndexOf('/');
    const device = slash >= 0 ? name.slice(0, slash) : undefined;
    const metric = slash >= 0 ? name.slice(slash + 1) : name;
    values.push({
      metric,
      value,
      ts: Math.round(ts),
      ...(device !== undefined && { device }),
      ...(u !== undefined && { unit: u }),
    });
  });
  if (values.length === 0) throw new Rejection('invalid_senml', 'SenML pack has no records with values');
  return values;
}
