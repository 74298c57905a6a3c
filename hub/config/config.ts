// The hub's configuration: an optional floorwatch.yaml plus FLOORWATCH_* variables, checked at
// start. An error names the field, the value found and what is allowed, so a facilities engineer
// can fix the file without reading code.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DEVICE_KINDS, ID_PATTERN } from '../domain/reading.ts';
import { originOf } from '../security/origins.ts';
import { parseDuration } from './duration.ts';
import { REQUIREMENT_KEYS } from '../domain/requirement.ts';
import { ZONE_TYPES } from '../domain/zone.ts';

const id = z.string().regex(ID_PATTERN, {
  error: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
});

const duration = z.string().refine((v) => parseDuration(v) !== undefined, {
  error: 'must be a duration such as "90s", "15m", "12h", "30d" or "2w"',
});

/** A whole number, also when it arrives as text from an environment variable. */
function integer(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .union(
      [
        z.number(),
        z
          .string()
          .trim()
          .regex(/^-?\d+$/)
          .transform(Number),
      ],
      { error: message },
    )
    .pipe(z.number().int({ error: message }).min(min, { error: message }).max(max, { error: message }));
}

const port = integer(0, 65535);

/** A web page's origin, as a browser sends it: scheme, host and port, nothing after. */
const origin = z.string().transform((value, ctx) => {
  const normalised = originOf(value);
  if (normalised !== undefined) return normalised;
  ctx.addIssue({
    code: 'custom',
    message:
      'must be an origin: http:// or https://, a host name and an optional port, with no path (e.g. "https://grafana.example.com:3000")',
    input: value,
  });
  return z.NEVER;
});

// Environment variables arrive as text; "false" must not coerce to true.
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')], {
  error: 'must be true or false',
});

/** A number, also when it arrives as text from an environment variable. */
const decimal = z.union(
  [
    z.number(),
    z
      .string()
      .trim()
      .regex(/^-?\d+(\.\d+)?$/)
      .transform(Number),
  ],
  { error: 'must be a number' },
);
const bounds = z.strictObject({ above: decimal.optional(), below: decimal.optional() });

/** Changes to built-in requirements, by key (`npm run floorwatch -- rules` lists them). */
const ruleOverridesSchema = z.partialRecord(
  z.enum(REQUIREMENT_KEYS),
  z.strictObject({
    enabled: flag.optional(),
    warning: bounds.optional(),
    critical: bounds.optional(),
    for: duration.optional(),
    hysteresis: decimal.pipe(z.number().min(0, { error: 'must be 0 or more' })).optional(),
    keep_firing_for: duration.optional(),
  }),
);

const zoneSchema = z.strictObject({
  id,
  name: z.string().max(200).optional(),
  type: z.enum(ZONE_TYPES).default('call_floor'),
  /** This zone's own changes to the requirements, on top of the site's. */
  rules: ruleOverridesSchema.optional(),
});

const deviceSchema = z.strictObject({
  id,
  kind: z.enum(DEVICE_KINDS),
  zone: id.optional(),
  /** How often the device reports; the liveness rules derive their timeouts from it. */
  heartbeat_interval: duration.default('60s'),
  /** Battery devices report rarely: critical only after 25 h of silence. */
  battery: flag.default(false),
  /** The gateway it reports through: while that is down, this device's offline alert is held. */
  gateway: id.optional(),
});

/** A serial port with an RS-485 gateway on it, and the zone of each sensor behind the gateway. */
const serialPortSchema = z.strictObject({
  path: z.string().min(1),
  baud_rate: integer(50, 4_000_000).default(9600),
  gateway: id,
  /** How often the gateway sends $FWG; after 3 intervals without any frame it is offline. */
  alive_interval: duration.default('10s'),
  devices: z
    .record(id, id, {
      error: 'device ids must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    })
    .default({}),
});

const configSchema = z
  .strictObject({
    site: z
      .strictObject({
        name: z.string().max(200).default('floorwatch'),
        /** Which comfort bands apply; calendar: winter Nov–Mar, summer Jun–Aug, transition between. */
        season: z.enum(['winter', 'summer', 'transition', 'calendar']).default('calendar'),
      })
      .prefault({}),
    bind: z.string().min(1).default('127.0.0.1'),
    http: z
      .strictObject({
        port: port.default(8080),
        /** Web pages, besides the hub's own, that may use it from a browser (/mqtt, the live feed, the API); a list, or comma-separated from an environment variable. */
        allowed_origins: z
          .union(
            [
              z.array(z.string()),
              z.string().transform((v) =>
                v
                  .split(',')
                  .map((o) => o.trim())
                  .filter((o) => o !== ''),
              ),
            ],
            { error: 'must be a list of origins such as "https://grafana.example.com:3000"' },
          )
          .pipe(z.array(origin))
          .default([]),
      })
      .prefault({}),
    mqtt: z
      .strictObject({
        port: port.default(1883),
        topic_prefix: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, {
            error: 'must be one topic level of letters, digits, "_" or "-"',
          })
          .default('floorwatch'),
      })
      .prefault({}),
    data_dir: z.string().min(1).default('./data'),
    storage: z
      .strictObject({
        /** http://host:8086/database — unset means the embedded SQLite store. */
        influx_url: z
          .url({
            protocol: /^https?$/,
            error: 'must be an http(s) URL with the database in the path, e.g. http://127.0.0.1:8086/floorwatch',
          })
          .optional(),
        raw_retention: duration.default('30d'),
        /** InfluxDB's 1-minute means, and alert history in either store. */
        long_term_retention: duration.default('104w'),
        /** Readings the store refused for good and journal entries set aside, kept on disk for GET /api/v1/rejections. */
        set_aside_kept: integer(10, 1_000_000).default(10_000),
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
    security: z
      .strictObject({
        /** true: clients without credentials are accepted from any address; warned at every start. */
        allow_anonymous: flag.default(false),
        /** true: encrypted connections only: the plain MQTT port is not opened (MQTTS and wss:// stay). Needs tls. */
        require_tls: flag.default(false),
        /** MQTTS and HTTPS from PEM files; relative paths resolve like data_dir. */
        tls: z
          .strictObject({
            cert: z.string().min(1),
            key: z.string().min(1),
            /** Device certificates signed by this CA log in as the device named by their CN. */
            ca: z.string().min(1).optional(),
            mqtt_port: port.default(8883),
          })
          .optional(),
        /**
         * Wrong passwords from one address (an IPv6 /64 counts as one): after `max` within `within`,
         * every login from there is refused for `lockout`, before any password is checked.
         */
        login_failures: z
          .strictObject({
            max: integer(1, 1000).default(5),
            within: duration.default('5m'),
            lockout: duration.default('5m'),
            /** Addresses remembered at once; beyond it the longest-quiet one is forgotten. */
            tracked_addresses: integer(100, 10_000_000).default(10_000),
          })
          .prefault({}),
      })
      .prefault({}),
    limits: z
      .strictObject({
        max_connections: integer(1, 1_000_000).default(5000),
        /**
         * Open MQTT connections per API token, and per address for anonymous clients under
         * security.allow_anonymous. A device has one by MQTT's own rule: its id is its client id.
         */
        max_connections_per_credential: integer(1, 1_000_000).default(50),
        /** Device passwords checked (scrypt) at the same time, and logins waiting for a check; more are refused with CONNACK 3. */
        password_checks_at_once: integer(1, 64).default(2),
        password_checks_waiting: integer(0, 100_000).default(64),
        /**
         * Largest MQTT packet the broker reads; a bigger one closes the connection. Unset: what
         * ingest accepts (ingest.max_payload_bytes) and 1 KiB for the topic and headers.
         */
        max_packet_bytes: integer(1024, 256 * 1024 * 1024).optional(),
        /** Retained messages clients may leave in the broker, in all (topic + payload + 256 bytes each); past it a message is delivered but not retained. */
        max_retained_bytes: integer(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
        /** Per client, messages the broker has for it and it has not read yet, and their bytes; past either it is disconnected. */
        max_queued_messages: integer(10, 10_000_000).default(1000),
        max_queued_bytes: integer(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
        /**
         * Bytes of messages read from clients and not yet in the journal, each counted with 1 KiB
         * for what the hub keeps of it on the way; at it, the hub stops reading from publishing
         * clients until it drains.
         */
        max_pending_bytes: integer(64 * 1024, 1024 * 1024 * 1024).default(32 * 1024 * 1024),
        /** While messages wait longer than this for the journal, QoS 0 readings and heartbeats are shed (counted). */
        max_ingest_delay: duration.default('50ms'),
        /** QoS 1/2 messages kept for all clients with a persistent session together, beside max_queued_messages each. */
        max_offline_messages: integer(100, 100_000_000).default(100_000),
        /** Per client: sustained messages per second, and the burst allowed above it. */
        messages_per_second: integer(1, 1_000_000).default(200),
        message_burst: integer(1, 10_000_000).default(2000),
        /** A client over its rate for this long without a pause is disconnected. */
        rate_grace: duration.default('10s'),
        /** Per client: QoS 1/2 messages received and not yet acknowledged. */
        max_inflight: integer(1, 65_535).default(1000),
        /**
         * Longest silence the hub allows a connection: a client asking for a longer keepalive is
         * closed after 1.5 times this without a packet. Keepalive 0 (none) is accepted; TCP
         * keepalive probes, sent after this much silence, find a peer that vanished.
         */
        max_keepalive: duration.default('15m'),
        /** Time a new connection has to send CONNECT. */
        connect_timeout: duration.default('10s'),
        /** Per API token and per address, once API tokens exist. */
        api_requests_per_minute: integer(1, 1_000_000).default(1200),
        /** Devices the hub takes on (declared ones included); a message from a further one is refused. */
        max_devices: integer(1, 100_000).default(20_000),
      })
      .prefault({}),
    rules: z
      .strictObject({
        /** Changes to the built-in requirements for the whole site; a zone's `rules` go further. */
        overrides: ruleOverridesSchema.default({}),
        /** After a start, no device is declared offline before this: devices reconnect first. */
        startup_grace: duration.default('2m'),
        /** A critical alert not acknowledged this long is notified again, as escalated. */
        escalate_after: duration.default('15m'),
        /** Storage is reported down once its writes have failed this long. */
        storage_down_after: duration.default('1m'),
        /**
         * Alerts come first: while the rules are this far behind the journal, QoS 0 readings are
         * shed; at twice it, the hub stops reading from publishing clients until they catch up.
         */
        max_behind: duration.default('500ms'),
        /** The storage_rejecting alert resolves once the store has refused no reading for this long. */
        storage_rejecting_clears_after: duration.default('5m'),
        /** Shift start times (local time of day): noise exposure is counted per shift. */
        shifts: z
          .array(z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time of day such as "06:00"' }))
          .min(1)
          .default(['06:00', '14:00', '22:00']),
      })
      .prefault({}),
    notify: z
      .strictObject({
        /** Each alert transition is POSTed to every webhook, signed with its secret (HMAC-SHA256). */
        webhooks: z
          .array(
            z.strictObject({
              url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
              secret: z
                .string()
                .min(16, { error: 'must be at least 16 characters: receivers check the signature with it' }),
            }),
          )
          .default([]),
        /** Delivery retries start this soon and double up to retry_max; undelivered ones wait on disk. */
        retry_first: duration.default('1s'),
        retry_max: duration.default('5m'),
      })
      .prefault({}),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** auto: readable lines on a terminal, JSON lines otherwise (systemd, containers, files). */
    log_format: z.enum(['auto', 'text', 'json']).default('auto'),
    zones: z.array(zoneSchema).default([]),
    devices: z.array(deviceSchema).default([]),
    serial: z.array(serialPortSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.security.require_tls && !cfg.security.tls) {
      ctx.addIssue({
        code: 'custom',
        path: ['security', 'require_tls'],
        message:
          'needs security.tls (cert and key): without TLS the hub would have no MQTT port to open; configure security.tls, or set require_tls to false',
        input: cfg.security.require_tls,
      });
    }
    const zoneIds = new Set<string>();
    cfg.zones.forEach((zone, i) => {
      if (zoneIds.has(zone.id))
        ctx.addIssue({
          code: 'custom',
          path: ['zones', i, 'id'],
          message: `zone "${zone.id}" is listed twice`,
          input: zone.id,
        });
      zoneIds.add(zone.id);
    });
    const deviceIds = new Set<string>();
    cfg.devices.forEach((device, i) => {
      if (deviceIds.has(device.id))
        ctx.addIssue({
          code: 'custom',
          path: ['devices', i, 'id'],
          message: `device "${device.id}" is listed twice`,
          input: device.id,
        });
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
    const configured = new Set([
      ...cfg.devices.map((d) => d.id),
      ...cfg.serial.flatMap((p) => [p.gateway, ...Object.keys(p.devices)]),
    ]);
    if (configured.size > cfg.limits.max_devices) {
      ctx.addIssue({
        code: 'custom',
        path: ['limits', 'max_devices'],
        message: `is below the ${configured.size} devices and gateways the configuration names (under devices and serial): raise it to at least ${configured.size}`,
        input: cfg.limits.max_devices,
      });
    }
    const portOf = new Map<string, string>();
    cfg.serial.forEach((port, i) => {
      if (cfg.serial.findIndex((p) => p.path === port.path) < i)
        ctx.addIssue({
          code: 'custom',
          path: ['serial', i, 'path'],
          message: `port ${port.path} is listed twice`,
          input: port.path,
        });
      if (cfg.serial.findIndex((p) => p.gateway === port.gateway) < i)
        ctx.addIssue({
          code: 'custom',
          path: ['serial', i, 'gateway'],
          message: `gateway "${port.gateway}" is listed on two ports`,
          input: port.gateway,
        });
      for (const [device, zone] of Object.entries(port.devices)) {
        if (!zoneIds.has(zone)) {
          ctx.addIssue({
            code: 'custom',
            path: ['serial', i, 'devices', device],
            message: `names zone "${zone}", which is not under zones (known: ${[...zoneIds].join(', ') || 'none'})`,
            input: zone,
          });
        }
        const other = portOf.get(device);
        if (other !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['serial', i, 'devices', device],
            message: `device "${device}" is already behind the gateway on ${other}`,
            input: device,
          });
        portOf.set(device, port.path);
      }
    });
  });

export type Config = z.output<typeof configSchema>;
export type ZoneConfig = Config['zones'][number];
export type DeviceConfig = Config['devices'][number];
export type SerialPortConfig = Config['serial'][number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `floorwatch cannot start: the configuration has ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'ConfigError';
  }
}

/** The operational variables scripts and containers rely on, and where each lands in the config. */
const NAMED_VARIABLES = new Map<string, string[]>([
  ['FLOORWATCH_HTTP_PORT', ['http', 'port']],
  ['FLOORWATCH_MQTT_PORT', ['mqtt', 'port']],
  ['FLOORWATCH_BIND', ['bind']],
  ['FLOORWATCH_DATA_DIR', ['data_dir']],
  ['FLOORWATCH_INFLUX_URL', ['storage', 'influx_url']],
  ['FLOORWATCH_LOG_LEVEL', ['log_level']],
  ['FLOORWATCH_LOG_FORMAT', ['log_format']],
]);

/**
 * Every other scalar field is reachable as FLOORWATCH_<SECTION>__<FIELD>, e.g.
 * FLOORWATCH_INGEST__MAX_CLOCK_SKEW=2m. The double underscore separates levels, because field
 * names have single ones.
 */
function variablePath(name: string): string[] | undefined {
  const named = NAMED_VARIABLES.get(name);
  if (named) return named;
  if (!name.startsWith('FLOORWATCH_') || name === 'FLOORWATCH_CONFIG') return undefined;
  return name.slice('FLOORWATCH_'.length).toLowerCase().split('__');
}

function setPath(target: Record<string, unknown>, path: string[], value: string): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    // Own fields only: FLOORWATCH_CONSTRUCTOR__X must not walk into Object.prototype.
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value === '' ? undefined : value;
}

/** A value as an error shows it: YAML aliases can make it contain itself, and it can be long. */
function shownValue(value: unknown): string {
  let text: string;
  try {
    // undefined has no JSON.
    text = value === undefined ? 'nothing' : JSON.stringify(value);
  } catch {
    return 'a value that contains itself (a YAML alias loop)';
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function describeIssue(issue: z.core.$ZodIssue, source: string): string {
  const field = issue.path.length ? issue.path.join('.') : '(top level)';
  const shown = 'input' in issue && issue.input !== undefined ? ` (found ${shownValue(issue.input)})` : '';
  let message = issue.message;
  if (issue.code === 'unrecognized_keys')
    message = `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}: check the spelling`;
  if (issue.code === 'invalid_value')
    message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
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
      // Warnings (unknown tags or directives) mean the file does not say what its author thinks.
      const doc = parseDocument(text, { logLevel: 'silent' });
      const problem = doc.errors[0] ?? doc.warnings[0];
      if (problem) throw problem;
      parsed = doc.toJS();
    } catch (err) {
      throw new ConfigError([`${file} is not valid YAML: ${(err as Error).message}`]);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed))
        throw new ConfigError([`${file} must hold a mapping of settings at the top level`]);
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
        return describeIssue(
          issue,
          envName ? `from ${envName}` : source === 'defaults' ? 'from defaults' : `in ${source}`,
        );
      }),
    );
  }
  const config = result.data;
  config.data_dir = isAbsolute(config.data_dir) ? config.data_dir : resolve(cwd, config.data_dir);
  const tls = config.security.tls;
  if (tls) {
    tls.cert = resolve(cwd, tls.cert);
    tls.key = resolve(cwd, tls.key);
    if (tls.ca !== undefined) tls.ca = resolve(cwd, tls.ca);
  }
  return config;
}

/** Duration fields as milliseconds; they were checked at load, so they always parse. */
export function ms(durationText: string): number {
  const value = parseDuration(durationText);
  if (value === undefined) throw new Error(`not a duration: ${durationText}`);
  return value;
}
