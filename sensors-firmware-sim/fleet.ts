// The fleet file: the floor to simulate (zones, sensors, heartbeating devices) and its scenario
// timeline, checked at load. Errors name the field, the value found and what is allowed, in the
// same words as the hub's own configuration. Its sections are declared in fleet-schema.ts, the
// checks across them in fleet-checks.ts.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { describeIssue } from '../hub/config/config.ts';
import { checkFleet } from './fleet-checks.ts';
import { defaultMetrics, expandIds, fleetSections, type FleetEntries } from './fleet-schema.ts';
import type { SensorMetric, ZoneType } from './fleet-values.ts';
import type { Scenario } from './scenario-schema.ts';

const fleetSchema = fleetSections.superRefine(checkFleet);

export type SiteSpec = FleetEntries['site'];
export type MqttSpec = FleetEntries['mqtt'];

export interface ZoneSpec {
  id: string;
  name?: string;
  type: ZoneType;
  seats: number;
  shifts: Array<{ start: string; end: string }>;
  setpoint?: number;
  setback?: { temperature: number; from: string; to: string };
}

type SensorEntry = FleetEntries['sensors'][number];
type DeviceEntry = FleetEntries['devices'][number];
export type GatewaySpec = FleetEntries['gateways'][number];
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
