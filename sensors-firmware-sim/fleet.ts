// The fleet file: the floor to simulate (zones, sensors, heartbeating devices) and its scenario
// timeline, checked at load. Errors name the field, the value found and what is allowed, in the
// same words as the hub's own configuration.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssue } from '../hub/config/config.ts';
import { parseDuration } from '../hub/config/duration.ts';
import { ID_PATTERN } from '../hub/domain/reading.ts';
import { ZONE_TYPES } from '../hub/domain/zone.ts';

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

const idMessage = 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';
const id = z.string().regex(ID_PATTERN, { error: idMessage });
/** An id, or a pattern with {n} when `count` makes several devices: "hs-a{n}". */
const idTemplate = z
  .string()
  .refine((v) => ID_PATTERN.test(v.replaceAll('{n}', '1')), { error: `${idMessage}; {n} numbers several devices` });

const duration = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, { error: 'must be a duration such as "500ms", "10s", "15m" or "2h"' })
  .transform((v) => parseDuration(v) as number);
/** A clock offset, ahead ("+3m" or "3m") or behind ("-3m"). */
const offset = z
  .string()
  .regex(/^[+-]?\d+(\.\d+)?(ms|s|m|h|d)$/, { error: 'must be a signed duration such as "+90s" or "-5m"' })
  .transform((v) => (v.startsWith('-') ? -1 : 1) * (parseDuration(v.replace(/^[+-]/, '')) as number));
const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-4]):[0-5]\d$/, { error: 'must be a time of day such as "08:00" or "17:30"' });
const metric = z.enum(SENSOR_METRICS);
const credentials = { username: z.string().min(1).max(256).optional(), password: z.string().max(256).optional() };

const zoneSchema = z.strictObject({
  id,
  name: z.string().max(200).optional(),
  type: z.enum(ZONE_TYPES).default('call_floor'),
  /** Desks; occupancy fills them during shifts. Default 20 on a call floor, 4 in a quiet room, 0 in a server room. */
  seats: z.number().int().min(0).max(10_000).optional(),
  shifts: z.array(z.strictObject({ start: clockTime, end: clockTime })).optional(),
  /** HVAC temperature setpoint, °C; default from the season (server room 22). */
  setpoint: z.number().min(5).max(35).optional(),
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

const when = { at: duration, duration: duration.optional() };
const scenarioSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('hvac_failure'), zone: id, ...when }),
  z.strictObject({ type: z.literal('cooling_failure'), zone: id, ...when }),
  z.strictObject({
    type: z.literal('noisy_shift'),
    zone: id,
    extra_db: z.number().min(0).max(40).default(10),
    ...when,
  }),
  z.strictObject({
    type: z.literal('headset_faults'),
    zone: id,
    fraction: z.number().min(0).max(1).default(0.25),
    spread: duration.default(300_000),
    status: z.enum(['degraded', 'fault']).default('degraded'),
    codes: z.array(z.string().regex(ID_PATTERN)).min(1).default(['noise', 'drop_outs']),
    ...when,
  }),
  z.strictObject({ type: z.literal('stuck_sensor'), device: id, metric: metric.optional(), ...when }),
  z.strictObject({
    type: z.literal('spikes'),
    device: id,
    metric,
    value: z.number(),
    every: duration.default(300_000),
    ...when,
  }),
  z.strictObject({ type: z.literal('dropout'), device: id, at: duration, duration }),
  z.strictObject({ type: z.literal('gateway_unplugged'), gateway: id, at: duration, duration }),
  z.strictObject({ type: z.literal('broken_payloads'), device: id, ...when }),
  z.strictObject({ type: z.literal('out_of_range'), device: id, metric, value: z.number().optional(), ...when }),
]);

const fleetSchema = z
  .strictObject({
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
  })
  .superRefine((fleet, ctx) => {
    const zones = new Set<string>();
    fleet.zones.forEach((zone, i) => {
      if (zones.has(zone.id))
        ctx.addIssue({
          code: 'custom',
          path: ['zones', i, 'id'],
          message: `zone "${zone.id}" is listed twice`,
          input: zone.id,
        });
      zones.add(zone.id);
    });
    const zoneProblem = (zone: string) =>
      `names zone "${zone}", which is not under zones (known: ${[...zones].join(', ')})`;
    const ids = new Map<string, 'sensor' | 'device'>();
    const sensorMetrics = new Map<string, readonly string[]>();
    const claim = (section: 'sensors' | 'devices', i: number, entry: { id: string; count: number }) => {
      if (entry.count > 1 && !entry.id.includes('{n}')) {
        ctx.addIssue({
          code: 'custom',
          path: [section, i, 'id'],
          message: `needs {n} in it to number ${entry.count} devices, e.g. "${entry.id}-{n}"`,
          input: entry.id,
        });
      }
      for (const one of expandIds(entry.id, entry.count)) {
        if (!ID_PATTERN.test(one))
          ctx.addIssue({
            code: 'custom',
            path: [section, i, 'id'],
            message: `makes the id "${one}", which ${idMessage}`,
            input: entry.id,
          });
        if (ids.has(one))
          ctx.addIssue({
            code: 'custom',
            path: [section, i, 'id'],
            message: `device "${one}" is listed twice`,
            input: entry.id,
          });
        ids.set(one, section === 'sensors' ? 'sensor' : 'device');
      }
    };
    fleet.sensors.forEach((sensor, i) => {
      claim('sensors', i, sensor);
      const zone = fleet.zones.find((z) => z.id === sensor.zone);
      if (!zone)
        ctx.addIssue({
          code: 'custom',
          path: ['sensors', i, 'zone'],
          message: zoneProblem(sensor.zone),
          input: sensor.zone,
        });
      const metrics = sensor.metrics ?? defaultMetrics(zone?.type ?? 'call_floor');
      for (const one of expandIds(sensor.id, sensor.count)) sensorMetrics.set(one, metrics);
    });
    fleet.devices.forEach((device, i) => {
      claim('devices', i, device);
      if (device.zone !== undefined && !zones.has(device.zone))
        ctx.addIssue({
          code: 'custom',
          path: ['devices', i, 'zone'],
          message: zoneProblem(device.zone),
          input: device.zone,
        });
    });
    const gateways = new Set<string>();
    fleet.gateways.forEach((gateway, i) => {
      // The hub keeps gateways and devices apart, but one id for both would confuse an operator.
      if (gateways.has(gateway.id) || ids.has(gateway.id))
        ctx.addIssue({
          code: 'custom',
          path: ['gateways', i, 'id'],
          message: `"${gateway.id}" is listed twice`,
          input: gateway.id,
        });
      gateways.add(gateway.id);
      if (!zones.has(gateway.zone))
        ctx.addIssue({
          code: 'custom',
          path: ['gateways', i, 'zone'],
          message: zoneProblem(gateway.zone),
          input: gateway.zone,
        });
      const behind = new Set<string>();
      gateway.sensors.forEach((sensor, j) => {
        if (sensor.zone !== undefined && !zones.has(sensor.zone))
          ctx.addIssue({
            code: 'custom',
            path: ['gateways', i, 'sensors', j, 'zone'],
            message: zoneProblem(sensor.zone),
            input: sensor.zone,
          });
        // Several metrics of one sensor are several entries; one device behind two gateways is not.
        if (!behind.has(sensor.device) && ids.has(sensor.device)) {
          ctx.addIssue({
            code: 'custom',
            path: ['gateways', i, 'sensors', j, 'device'],
            message: `device "${sensor.device}" is listed twice`,
            input: sensor.device,
          });
        }
        behind.add(sensor.device);
      });
      for (const device of behind) ids.set(device, 'sensor');
    });
    fleet.scenarios.forEach((scenario, i) => {
      if ('gateway' in scenario && !gateways.has(scenario.gateway)) {
        ctx.addIssue({
          code: 'custom',
          path: ['scenarios', i, 'gateway'],
          message: `names "${scenario.gateway}", which is not under gateways (known: ${[...gateways].join(', ') || 'none'})`,
          input: scenario.gateway,
        });
      }
      if ('zone' in scenario && !zones.has(scenario.zone))
        ctx.addIssue({
          code: 'custom',
          path: ['scenarios', i, 'zone'],
          message: zoneProblem(scenario.zone),
          input: scenario.zone,
        });
      if (
        scenario.type === 'cooling_failure' &&
        fleet.zones.find((z) => z.id === scenario.zone)?.type !== 'server_room'
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['scenarios', i, 'zone'],
          message: 'cooling_failure needs a zone of type server_room',
          input: scenario.zone,
        });
      }
      if ('device' in scenario) {
        const metrics = sensorMetrics.get(scenario.device);
        if (metrics === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['scenarios', i, 'device'],
            message: `names "${scenario.device}", which is not one of the sensors`,
            input: scenario.device,
          });
        } else if ('metric' in scenario && scenario.metric !== undefined && !metrics.includes(scenario.metric)) {
          ctx.addIssue({
            code: 'custom',
            path: ['scenarios', i, 'metric'],
            message: `sensor "${scenario.device}" does not measure ${scenario.metric} (it measures ${metrics.join(', ')})`,
            input: scenario.metric,
          });
        }
      }
    });
  });

type ParsedFleet = z.output<typeof fleetSchema>;
export type Scenario = ParsedFleet['scenarios'][number];
export type ScenarioType = Scenario['type'];
export type SiteSpec = ParsedFleet['site'];
export type MqttSpec = ParsedFleet['mqtt'];

export interface ZoneSpec {
  id: string;
  name?: string;
  type: ZoneType;
  seats: number;
  shifts: Array<{ start: string; end: string }>;
  setpoint?: number;
}

type SensorEntry = ParsedFleet['sensors'][number];
type DeviceEntry = ParsedFleet['devices'][number];
export type GatewaySpec = ParsedFleet['gateways'][number];
export type SensorSpec = Omit<SensorEntry, 'count' | 'metrics'> & { metrics: SensorMetric[] };
export type DeviceSpec = Omit<DeviceEntry, 'count'>;

/** A checked fleet, with counts expanded into one entry per device and defaults filled in. */
export interface Fleet {
  site: SiteSpec;
  mqtt: MqttSpec;
  zones: ZoneSpec[];
  sensors: SensorSpec[];
  devices: DeviceSpec[];
  gateways: GatewaySpec[];
  scenarios: Scenario[];
}

export class FleetError extends Error {
  constructor(readonly problems: string[]) {
    super(`the fleet has ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
    this.name = 'FleetError';
  }
}

export function defaultMetrics(type: ZoneType): SensorMetric[] {
  return type === 'server_room' ? ['temperature', 'humidity'] : [...SENSOR_METRICS];
}

function expandIds(template: string, count: number): string[] {
  if (count === 1 && !template.includes('{n}')) return [template];
  return Array.from({ length: count }, (_, i) => template.replaceAll('{n}', String(i + 1)));
}

const DEFAULT_SEATS: Record<ZoneType, number> = { call_floor: 20, quiet_room: 4, server_room: 0 };

/** Checks a fleet given as data (parsed YAML, or built from command-line flags). */
export function parseFleet(raw: unknown, source = 'the fleet'): Fleet {
  const result = fleetSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!result.success) throw new FleetError(result.error.issues.map((issue) => describeIssue(issue, `in ${source}`)));
  const fleet = result.data;
  const zoneType = new Map(fleet.zones.map((z) => [z.id, z.type]));
  return {
    site: fleet.site,
    mqtt: fleet.mqtt,
    zones: fleet.zones.map((z) => ({
      ...z,
      seats: z.seats ?? DEFAULT_SEATS[z.type],
      shifts: z.shifts ?? (z.type === 'server_room' ? [] : [{ start: '08:00', end: '18:00' }]),
    })),
    sensors: fleet.sensors.flatMap(({ count, metrics, ...sensor }) =>
      expandIds(sensor.id, count).map((one) => ({
        ...sensor,
        id: one,
        metrics: metrics ?? defaultMetrics(zoneType.get(sensor.zone) ?? 'call_floor'),
      })),
    ),
    devices: fleet.devices.flatMap(({ count, ...device }) =>
      expandIds(device.id, count).map((one) => ({ ...device, id: one })),
    ),
    gateways: fleet.gateways,
    scenarios: fleet.scenarios,
  };
}

/** Reads and checks a fleet file (YAML). */
export function loadFleet(file: string): Fleet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetError([`the fleet file ${file} cannot be read: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new FleetError([`${file} is not valid YAML: ${(err as Error).message}`]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new FleetError([`${file} must hold a mapping with zones, sensors, devices and scenarios`]);
  return parseFleet(raw, file);
}

/**
 * The zones, devices and serial ports a hub should declare (floorwatch.yaml `zones`, `devices` and
 * `serial`) for this fleet. A gateway's port exists only once its pty pair does, so the hub end of
 * each gateway's line is given here (startGatewayLines in floor.ts).
 */
export function hubDeclarations(
  fleet: Fleet,
  lines: ReadonlyMap<string, { hubPath: string }> = new Map(),
): {
  site: { season: string };
  zones: Array<Record<string, string>>;
  devices: Array<Record<string, string>>;
  serial?: Array<Record<string, unknown>>;
} {
  const serial = fleet.gateways.map((g) => {
    const line = lines.get(g.id);
    if (!line) throw new Error(`gateway ${g.id} has no serial line: start the fleet's lines first`);
    return {
      path: line.hubPath,
      gateway: g.id,
      alive_interval: `${g.alive_interval}ms`,
      devices: Object.fromEntries(g.sensors.map((s) => [s.device, s.zone ?? g.zone])),
    };
  });
  return {
    // The hub judges the floor by the season the floor is simulated in.
    site: { season: fleet.site.season === 'auto' ? 'calendar' : fleet.site.season },
    zones: fleet.zones.map((z) => ({ id: z.id, type: z.type, ...(z.name !== undefined && { name: z.name }) })),
    devices: [
      ...fleet.sensors.map((s) => ({
        id: s.id,
        kind: 'sensor',
        zone: s.zone,
        heartbeat_interval: `${s.heartbeat_interval}ms`,
      })),
      ...fleet.devices.map((d) => ({
        id: d.id,
        kind: d.kind,
        ...(d.zone !== undefined && { zone: d.zone }),
        heartbeat_interval: `${d.heartbeat_interval}ms`,
      })),
    ],
    ...(serial.length > 0 && { serial }),
  };
}
