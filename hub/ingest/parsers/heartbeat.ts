// Heartbeat: {"ts":…, "kind":"headset", "status":"ok|degraded|fault",
//             "components":{"headset":{"state":"degraded","code":"noise"}}, "uptime_s":…, "fw":"1.4.2",
//             "battery": 64 (%), "rssi": -71 (dBm)}
import {
  DEVICE_KINDS,
  HEALTH_STATUSES,
  HEARTBEAT_BOUNDS,
  hidesCharacters,
  ID_PATTERN,
  type ComponentHealth,
  type DeviceKind,
  type HealthStatus,
} from '../../domain/reading.ts';
import { Rejection } from '../rejection.ts';
import { optionalTimestamp } from './json.ts';
import type { ParsedHeartbeat } from './parsed.ts';

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new Rejection(
    'invalid_payload',
    `heartbeat "${field}" must be one of ${allowed.join(', ')}, found ${JSON.stringify(value)}`,
  );
}

function numberIn(
  value: unknown,
  field: string,
  { min, max }: { min: number; max: number },
  what: string,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max) return value;
  throw new Rejection(
    'invalid_payload',
    `heartbeat "${field}" must be ${what}, found ${JSON.stringify(value).slice(0, 40)}`,
  );
}

export function parseHeartbeat(doc: Record<string, unknown>): ParsedHeartbeat {
  const ts = optionalTimestamp(doc.ts, 'ts');
  const status = doc.status === undefined ? 'ok' : oneOf<HealthStatus>(doc.status, HEALTH_STATUSES, 'status');
  const kind = doc.kind === undefined ? undefined : oneOf<DeviceKind>(doc.kind, DEVICE_KINDS, 'kind');
  const components = new Map<string, ComponentHealth>();
  if (doc.components !== undefined) {
    if (typeof doc.components !== 'object' || doc.components === null || Array.isArray(doc.components)) {
      throw new Rejection('invalid_payload', 'heartbeat "components" must be an object of {"state": …, "code": …}');
    }
    const entries = Object.entries(doc.components);
    if (entries.length > HEARTBEAT_BOUNDS.components)
      throw new Rejection(
        'invalid_payload',
        `heartbeat has ${entries.length} components (at most ${HEARTBEAT_BOUNDS.components})`,
      );
    for (const [name, component] of entries) {
      if (!ID_PATTERN.test(name))
        throw new Rejection('invalid_payload', `heartbeat component name ${JSON.stringify(name)} is not a valid name`);
      if (typeof component !== 'object' || component === null)
        throw new Rejection('invalid_payload', `heartbeat component "${name}" must be an object`);
      const { state, code } = component as Record<string, unknown>;
      if (code !== undefined && (typeof code !== 'string' || !ID_PATTERN.test(code))) {
        throw new Rejection(
          'invalid_payload',
          `heartbeat component "${name}" has an invalid code ${JSON.stringify(code)}`,
        );
      }
      components.set(name, {
        state: oneOf<HealthStatus>(state, HEALTH_STATUSES, `components.${name}.state`),
        ...(typeof code === 'string' && { code }),
      });
    }
  }
  const uptime = doc.uptime_s;
  if (uptime !== undefined && (typeof uptime !== 'number' || !Number.isFinite(uptime) || uptime < 0)) {
    throw new Rejection(
      'invalid_payload',
      `heartbeat "uptime_s" must be a number ≥ 0, found ${JSON.stringify(uptime)}`,
    );
  }
  const fw = doc.fw;
  if (fw !== undefined && (typeof fw !== 'string' || fw.length > HEARTBEAT_BOUNDS.fwLength)) {
    throw new Rejection(
      'invalid_payload',
      `heartbeat "fw" must be a version string of at most ${HEARTBEAT_BOUNDS.fwLength} characters`,
    );
  }
  const { battery: charge, rssi: signal } = HEARTBEAT_BOUNDS;
  const battery = numberIn(doc.battery, 'battery', charge, `a charge in % from ${charge.min} to ${charge.max}`);
  const rssi = numberIn(doc.rssi, 'rssi', signal, `a signal strength in dBm from ${signal.min} to ${signal.max}`);
  return {
    status,
    // Own properties only (Object.fromEntries defines, never assigns), whatever the names.
    components: Object.fromEntries(components),
    ...(ts !== undefined && { ts }),
    ...(kind !== undefined && { kind }),
    ...(typeof uptime === 'number' && { uptimeS: uptime }),
    ...(typeof fw === 'string' && { fw }),
    ...(battery !== undefined && { battery }),
    ...(rssi !== undefined && { rssi }),
  };
}

/**
 * A heartbeat's firmware version as shown on the floor page, in reports and on an operator's
 * terminal: one that holds control or invisible characters (a terminal's escapes, a bidi
 * override) is left out, with a refusal; the heartbeat itself still counts.
 */
export function shownVersion(fw: string | undefined): { fw?: string; refusal?: Rejection } {
  if (fw === undefined || !hidesCharacters(fw)) return fw === undefined ? {} : { fw };
  return {
    refusal: new Rejection(
      'invalid_payload',
      `heartbeat "fw" ${JSON.stringify(fw)} holds control or invisible characters; the heartbeat is taken without it`,
    ),
  };
}
