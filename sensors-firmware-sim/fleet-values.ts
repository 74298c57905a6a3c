// The kinds of value a fleet file holds: ids, durations, clock offsets and times of day, and the
// metrics, seasons and device kinds the simulator knows. Problems are worded as the hub words its
// own configuration's.
import { z } from 'zod';
import { parseDuration } from '../hub/config/duration.ts';
import { ID_PATTERN } from '../hub/domain/reading.ts';
import type { ZONE_TYPES } from '../hub/domain/zone.ts';

export type ZoneType = (typeof ZONE_TYPES)[number];
export const SEASONS = ['winter', 'summer', 'transition'] as const;
export type Season = (typeof SEASONS)[number];
export const SENSOR_METRICS = [
  'temperature',
  'humidity',
  'co2',
  'fresh_air',
  'air_speed',
  'noise',
  'noise_peak',
] as const;
export type SensorMetric = (typeof SENSOR_METRICS)[number];
export const HEARTBEAT_KINDS = ['phone', 'headset', 'pc', 'server', 'gateway'] as const;

export const idMessage = 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';
export const id = z.string().regex(ID_PATTERN, { error: idMessage });
/** An id, or a pattern with {n} when `count` makes several devices: "hs-a{n}". */
export const idTemplate = z
  .string()
  .refine((v) => ID_PATTERN.test(v.replaceAll('{n}', '1')), { error: `${idMessage}; {n} numbers several devices` });

export const duration = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, { error: 'must be a duration such as "500ms", "10s", "15m" or "2h"' })
  .transform((v) => parseDuration(v) as number);
/** A clock offset, ahead ("+3m" or "3m") or behind ("-3m"). */
export const offset = z
  .string()
  .regex(/^[+-]?\d+(\.\d+)?(ms|s|m|h|d)$/, { error: 'must be a signed duration such as "+90s" or "-5m"' })
  .transform((v) => (v.startsWith('-') ? -1 : 1) * (parseDuration(v.replace(/^[+-]/, '')) as number));
export const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-4]):[0-5]\d$/, { error: 'must be a time of day such as "08:00" or "17:30"' });
export const metric = z.enum(SENSOR_METRICS);
export const credentials = {
  username: z.string().min(1).max(256).optional(),
  password: z.string().max(256).optional(),
};
