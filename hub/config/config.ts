// The hub's configuration: an optional floorwatch.yaml plus FLOORWATCH_* variables, checked at
// start. An error names the field, the value found and what is allowed, so a facilities engineer
// can fix the file without reading code.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEVICE_KINDS, ID_PATTERN } from '../domain/reading.ts';
import { parseDuration } from './duration.ts';

const id = z.string().regex(ID_PATTERN, {
  message: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
});

const duration = z.string().refine((v) => parseDuration(v) !== undefined, {
  message: 'must be a duration such as "90s", "15m", "12h", "30d" or "2w"',
});

/** A whole number, also when it arrives as text from an environment variable. */
function integer(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .union([z.number(), z.string().trim().regex(/^-?\d+$/).transform(Number)], { message })
    .pipe(z.number().int({ message }).min(min, { message }).max(max, { message }));
}

const port = integer(0, 65535);

// Environment variables arrive as text; "false" must not coerce to true.
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')], {
  message: 'must be true or false',
});

export const ZONE_TYPES = ['call_floor', 'quiet_room', 'server_room'] as const;

const zoneSchema = z.strictObject({
  id,
  name: z.string().max(200).optional(),
  type: z.enum(ZONE_TYPES).default('call_floor'),
});

const deviceSchema = z.strictObject({
  id,
  kind: z.enum(DEVICE_KINDS),
  zone: id.optional(),
  /** How often the device reports; the liveness rules derive their timeouts from it. */
  heartbeat_interval: duration.default('60s'),
});

const configSchema = z
  .strictObject({
    site: z
      .strictObject({
        name: z.string().max(200).default('floorwatch'),
      })
      .prefault({}),
    bind: z.string().min(1).default('127.0.0.1'),
    http: z.strictObject({ port: port.default(8080) }).prefault({}),
    mqtt: z
      .strictObject({
        port: port.default(1883),
        topic_prefix: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, { message: 'must be one topic level of letters, digits, "_" or "-"' })
          .default('floorwatch'),
      })
      .prefault({}),
    data_dir: z.string().min(1).default('./data'),
    storage: z
      .strictObject({
        /** http://host:8086/database — unset means the embedded SQLite store. */
        influx_url: z
          .url({ protocol: /^https?$/, message: 'must be an http(s) URL with the database in the path, e.g. http://127.0.0.1:8086/floorwatch' })
          .optional(),
        raw_retention: duration.default('30d'),
        long_term_retention: duration.default('104w'),
      })
      .prefault({}),
    ingest: z
      .strictObject({
        /** How far ahead of the hub's clock a device's timestamp may be and still be used. */
        max_clock_skew: duration.default('5m'),
        /** How old a replayed reading may be and keep its own timestamp (offline buffers). */
        max_replay_age: duration.default('7d'),
        max_payload_bytes: integer(64, 16 * 1024 * 1024).default(64 * 1024),
        max_metrics_per_device: integer(1, 10_000).default(64),
        /** false: readings from devices not listed under `devices` are refused. */
        accept_undeclared_devices: flag.default(true),
        rejections_kept: integer(10, 100_000).default(1000),
      })
      .prefault({}),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    zones: z.array(zoneSchema).default([]),
    devices: z.array(deviceSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    const zoneIds = new Set<string>();
    cfg.zones.forEach((zone, i) => {
      if (zoneIds.has(zone.id)) ctx.addIssue({ code: 'custom', path: ['zones', i, 'id'], message: `zone "${zone.id}" is listed twice`, input: zone.id });
      zoneIds.add(zone.id);
    });
    const deviceIds = new Set<string>();
    cfg.devices.forEach((device, i) => {
      if (deviceIds.has(device.id)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `device "${device.id}" is listed twice`, input: device.id });
      deviceIds.add(device.id);
      if (device.zone !== undefined && !zoneIds.has(device.zone)) {
        ctx.addIssue({
          code: 'custom',
          path: ['devices', i, 'zone'],
          message: `names zone "${device.zone}", which is not under zones (known: ${[...zoneIds].join(', ') || 'none'})`,
          input: device.zone,
        });
      }
    });
  });

export type Config = z.output<typeof configSchema>;
export type ZoneConfig = Config['zones'][number];
export type DeviceConfig = Config['devices'][number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`floorwatch cannot start: the configuration has ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** The operational variables scripts and containers rely on, and where each lands in the config. */
const NAMED_VARIABLES: Record<string, string[]> = {
  FLOORWATCH_HTTP_PORT: ['http', 'port'],
  FLOORWATCH_MQTT_PORT: ['mqtt', 'port'],
  FLOORWATCH_BIND: ['bind'],
  FLOORWATCH_DATA_DIR: ['data_dir'],
  FLOORWATCH_INFLUX_URL: ['storage', 'influx_url'],
  FLOORWATCH_LOG_LEVEL: ['log_level'],
};

/**
 * Every other scalar field is reachable as FLOORWATCH_<SECTION>__<FIELD>, e.g.
 * FLOORWATCH_INGEST__MAX_CLOCK_SKEW=2m. The double underscore separates levels, because field
 * names have single ones.
 */
function variablePath(name: string): string[] | undefined {
  const named = NAMED_VARIABLES[name];
  if (named) return named;
  if (!name.startsWith('FLOORWATCH_') || name === 'FLOORWATCH_CONFIG') return undefined;
  return name.slice('FLOORWATCH_'.length).toLowerCase().split('__');
}

function setPath(target: Record<string, unknown>, path: string[], value: string): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value === '' ? undefined : value;
}

function describeIssue(issue: z.core.$ZodIssue, source: string): string {
  const field = issue.path.length ? issue.path.join('.') : '(top level)';
  const shown = 'input' in issue && issue.input !== undefined ? ` (found ${JSON.stringify(issue.input)})` : '';
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}: check the spelling`;
  if (issue.code === 'invalid_value') message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return `${field}${shown}: ${message} [${source}]`;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Relative paths in the config (data_dir) resolve against this; default the process's cwd. */
  cwd?: string;
}

/** Reads, merges and checks the configuration. Throws ConfigError listing every problem found. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = env.FLOORWATCH_CONFIG;
  let raw: Record<string, unknown> = {};
  let source = 'defaults';
  if (file) {
    source = file;
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file), 'utf8');
    } catch (err) {
      throw new ConfigError([`FLOORWATCH_CONFIG names ${file}, which cannot be read: ${(err as Error).message}`]);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError([`${file} is not valid YAML: ${(err as Error).message}`]);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError([`${file} must hold a mapping of settings at the top level`]);
      raw = parsed as Record<string, unknown>;
    }
  }
  const fromEnv: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    const path = variablePath(name);
    if (!path || value === undefined) continue;
    setPath(raw, path, value);
    fromEnv.push(name);
  }
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const envName = fromEnv.find((n) => variablePath(n)?.join('.') === issue.path.join('.'));
        return describeIssue(issue, envName ? `from ${envName}` : source === 'defaults' ? 'from defaults' : `in ${source}`);
      }),
    );
  }
  const config = result.data;
  config.data_dir = isAbsolute(config.data_dir) ? config.data_dir : resolve(cwd, config.data_dir);
  return config;
}

/** Duration fields as milliseconds; they were checked at load, so they always parse. */
export function ms(durationText: string): number {
  const value = parseDuration(durationText);
  if (value === undefined) throw new Error(`not a duration: ${durationText}`);
  return value;
}
