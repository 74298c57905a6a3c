// The device list's snapshot file (data_dir/devices.json): what the hub knows of each device
// across a restart. Read back field by field: a file cut short, edited by hand or written by
// another release must not keep the hub from starting, nor a record of another shape reach the
// list. The registry writes it with replaceFile (domain/durable-file.ts), off the hub's thread,
// so a power cut leaves the old snapshot or the new, never an empty one.
import { readFileSync } from 'node:fs';
import { counted } from '../domain/counted.ts';
import { setFileAside } from '../domain/aside.ts';
import {
  DEVICE_KINDS,
  HEALTH_STATUSES,
  hidesCharacters,
  ID_PATTERN,
  METRIC_PATTERN,
  type ComponentHealth,
  type DeviceKind,
  type HealthStatus,
  type Presence,
} from '../domain/reading.ts';

export interface Known {
  id: string;
  kind?: DeviceKind;
  zone: string;
  lastSeen?: number;
  presence?: Presence;
  presenceAt?: number;
  lastHeartbeat?: number;
  status?: HealthStatus;
  components?: Record<string, ComponentHealth>;
  fw?: string;
  battery?: number;
  rssi?: number;
  metrics: string[];
}

export interface Snapshot {
  devices: Known[];
  /** What was wrong with the file, for the hub to log; undefined when all of it was read. */
  problem?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const oneOf = <T extends string>(v: unknown, allowed: readonly T[]): T | undefined => allowed.find((a) => a === v);

function componentsOf(v: unknown): Record<string, ComponentHealth> | undefined {
  if (!isObject(v)) return undefined;
  const components: Record<string, ComponentHealth> = {};
  for (const [name, c] of Object.entries(v)) {
    if (!isObject(c) || !ID_PATTERN.test(name)) continue;
    const state = oneOf(c.state, HEALTH_STATUSES);
    if (state === undefined) continue;
    // A name passed the id pattern, so it is never "__proto__".
    components[name] = typeof c.code === 'string' ? { state, code: c.code } : { state };
  }
  return components;
}

/** A record as the hub wrote it, its fields of the wrong type left out; undefined when it is not a device's. */
function knownOf(v: unknown): Known | undefined {
  if (!isObject(v) || typeof v.id !== 'string' || !ID_PATTERN.test(v.id)) return undefined;
  const known: Known = {
    id: v.id,
    zone: typeof v.zone === 'string' && (v.zone === '' || ID_PATTERN.test(v.zone)) ? v.zone : '',
    // Only names ingest would take: a name known is not checked again when the device sends it.
    metrics: Array.isArray(v.metrics)
      ? v.metrics.filter((m): m is string => typeof m === 'string' && METRIC_PATTERN.test(m))
      : [],
  };
  const kind = oneOf(v.kind, DEVICE_KINDS);
  const presence = oneOf(v.presence, ['online', 'offline'] as const);
  const status = oneOf(v.status, HEALTH_STATUSES);
  const components = componentsOf(v.components);
  if (kind) known.kind = kind;
  if (presence) known.presence = presence;
  if (status) known.status = status;
  if (components) known.components = components;
  if (typeof v.fw === 'string' && !hidesCharacters(v.fw)) known.fw = v.fw;
  for (const field of ['lastSeen', 'presenceAt', 'lastHeartbeat', 'battery', 'rssi'] as const) {
    const value = finite(v[field]);
    if (value !== undefined) known[field] = value;
  }
  return known;
}

/** The snapshot at `path`; none yet is an empty one. A file that is not a list is set aside (at `now`). */
export function readSnapshot(path: string, now: number): Snapshot {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { devices: [] };
    return { devices: [], problem: `could not be read (${(err as Error).message})` };
  }
  let records: unknown;
  try {
    records = JSON.parse(text);
  } catch {
    records = undefined;
  }
  if (!Array.isArray(records)) return { devices: [], problem: `is not a list of devices, ${setFileAside(path, now)}` };
  const devices = records.map(knownOf).filter((d): d is Known => d !== undefined);
  const left = records.length - devices.length;
  return left === 0
    ? { devices }
    : {
        devices,
        problem: `holds ${counted(left, 'record')} that ${left === 1 ? 'is' : 'are'} not a device's, left out`,
      };
}
