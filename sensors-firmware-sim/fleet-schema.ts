// The fleet file's sections: the site, the broker, the zones, the sensors and heartbeating devices
// (a `count` makes several from one entry) and the serial gateways, with the defaults that fill
// what an entry leaves out. The checks across sections are in fleet-checks.ts.
import { z } from 'zod';
import { ZONE_TYPES } from '../hub/domain/zone.ts';
import {
  clockTime,
  credentials,
  duration,
  HEARTBEAT_KINDS,
  id,
  idTemplate,
  metric,
  offset,
  SEASONS,
  SENSOR_METRICS,
  type SensorMetric,
  type ZoneType,
} from './fleet-values.ts';
import { scenarioSchema } from './scenario-schema.ts';

const zoneSchema = z.strictObject({
  id,
  name: z.string().max(200).optional(),
  type: z.enum(ZONE_TYPES).default('call_floor'),
  /** Desks; occupancy fills them during shifts. Default 20 on a call floor, 4 in a quiet room, 0 in a server room. */
  seats: z.number().int().min(0).max(10_000).optional(),
  shifts: z.array(z.strictObject({ start: clockTime, end: clockTime })).optional(),
  /** HVAC temperature setpoint, °C; default from the season (server room 22). */
  setpoint: z.number().min(5).max(35).optional(),
  /** HVAC set-back: the lower temperature it holds from `from` to `to` (local time, may cross midnight). */
  setback: z.strictObject({ temperature: z.number().min(5).max(30), from: clockTime, to: clockTime }).optional(),
});

const bufferSchema = z
  .strictObject({
    /** Readings kept while offline; the oldest are dropped beyond this. */
    max: z.number().int().min(1).max(10_000_000).default(10_000),
    /** Kept across a firmware restart when set: one file per device, <dir>/<id>.jsonl. */
    dir: z.string().min(1).optional(),
  })
  .prefault({});

const sensorSchema = z.strictObject({
  id: idTemplate,
  count: z.number().int().min(1).max(10_000).default(1),
  zone: id,
  metrics: z.array(metric).min(1).optional(),
  interval: duration.default(10_000),
  format: z.enum(['json', 'senml']).default('json'),
  heartbeat_interval: duration.default(60_000),
  clock_skew: offset.default(0),
  buffer: bufferSchema,
  fw: z.string().max(64).default('1.0.0'),
  ...credentials,
});

const deviceSchema = z.strictObject({
  id: idTemplate,
  count: z.number().int().min(1).max(10_000).default(1),
  kind: z.enum(HEARTBEAT_KINDS),
  zone: id.optional(),
  heartbeat_interval: duration.default(60_000),
  clock_skew: offset.default(0),
  fw: z.string().max(64).default('1.0.0'),
  ...credentials,
});

/** An RS-485 gateway on a serial port, with sensors behind it (serial-gateway.ts). */
const gatewaySchema = z.strictObject({
  id,
  /** The zone the sensors behind it measure, unless a sensor names its own. */
  zone: id,
  sensors: z.array(z.strictObject({ device: id, metric, zone: id.optional() })).min(1),
  interval: duration.default(10_000),
  alive_interval: duration.default(10_000),
});

export const fleetSections = z.strictObject({
  site: z
    .strictObject({
      /** auto: from the month (northern hemisphere). */
      season: z.enum([...SEASONS, 'auto']).default('auto'),
      /** Shift times are in this offset from UTC. */
      utc_offset: z
        .string()
        .regex(/^[+-]([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be an offset such as "+08:00" or "-05:00"' })
        .default('+00:00'),
      seed: z.number().int().default(1),
      outdoor_co2: z.number().min(300).max(1000).default(420),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      url: z
        .string()
        .regex(/^(mqtts?|wss?|tcp):\/\//, { error: 'must be a broker URL such as mqtt://127.0.0.1:1883' })
        .default('mqtt://127.0.0.1:1883'),
      topic_prefix: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, {
          error: 'must be one topic level of letters, digits, "_" or "-"',
        })
        .default('floorwatch'),
      ...credentials,
      reconnect_first: duration.default(500),
      reconnect_max: duration.default(30_000),
    })
    .prefault({}),
  zones: z.array(zoneSchema).min(1, { error: 'needs at least one zone' }),
  sensors: z.array(sensorSchema).default([]),
  devices: z.array(deviceSchema).default([]),
  gateways: z.array(gatewaySchema).default([]),
  scenarios: z.array(scenarioSchema).default([]),
});

export type FleetEntries = z.output<typeof fleetSections>;

/** The metrics a sensor measures when its entry does not say: in a server room, temperature and humidity only. */
export function defaultMetrics(type: ZoneType): SensorMetric[] {
  return type === 'server_room' ? ['temperature', 'humidity'] : [...SENSOR_METRICS];
}

/** The ids an entry makes: its `count` numbers them through {n}. */
export function expandIds(template: string, count: number): string[] {
  if (count === 1 && !template.includes('{n}')) return [template];
  return Array.from({ length: count }, (_, i) => template.replaceAll('{n}', String(i + 1)));
}
