// The vocabulary every stage shares: ids, metrics, readings, heartbeats, device status.
// Nothing here does I/O.

/** Device, gateway and zone ids. Checked, never escaped: they become storage keys and topic levels. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why an id is refused, in words an operator can act on; undefined when it is fine. */
export function idProblem(id: string): string | undefined {
  // Every reading's device id comes through here: the one test first, the words only when it fails.
  if (ID_PATTERN.test(id)) return undefined;
  if (id.length === 0) return 'is empty';
  if (id.length > 64) return `is ${id.length} characters long (at most 64)`;
  if (!/^[A-Za-z0-9]/.test(id)) return 'must start with a letter or digit';
  const bad = Array.from(id).find((c) => !/[A-Za-z0-9._-]/.test(c));
  if (bad !== undefined) return `contains ${JSON.stringify(bad)} (allowed: letters, digits, '.', '_', '-')`;
  return undefined;
}

export type MetricName = string;

export interface MetricSpec {
  /** Canonical unit, as SenML writes it. */
  unit: string;
  /** Physically possible range: outside it a value is a sensor fault, not an environment reading. */
  min: number;
  max: number;
}

/**
 * The canonical metrics. A Map, not an object literal: metric names come from devices, and a
 * name such as "toString" or "constructor" must not find something on Object.prototype.
 */
export const METRICS: ReadonlyMap<string, MetricSpec> = new Map([
  ['temperature', { unit: 'Cel', min: -50, max: 100 }],
  ['humidity', { unit: '%RH', min: 0, max: 100 }],
  ['co2', { unit: 'ppm', min: 0, max: 40000 }],
  ['fresh_air', { unit: 'm3/h/person', min: 0, max: 10000 }],
  ['air_speed', { unit: 'm/s', min: 0, max: 50 }],
  ['noise', { unit: 'dB(A)', min: 0, max: 160 }],
  ['noise_peak', { unit: 'dB(C)', min: 0, max: 180 }],
  ['dew_point', { unit: 'Cel', min: -80, max: 100 }],
]);

/** A unit as people read it (°C, not UCUM's Cel); the API and the stores keep the UCUM code. */
const UNIT_TEXT: ReadonlyMap<string, string> = new Map([
  ['Cel', '°C'],
  ['m3/h/person', 'm³/h per person'],
]);

export function unitText(unit: string): string {
  return UNIT_TEXT.get(unit) ?? unit;
}

/**
 * Metric names are stored as keys too, so the same grammar as ids, lower-case by convention; not
 * `ts` or `seq`, which name a reading's time and sequence beside its metrics in a JSON payload.
 */
export const METRIC_PATTERN = /^(?!(?:ts|seq)$)[A-Za-z][A-Za-z0-9_]{0,63}$/;

export type DeviceKind = 'phone' | 'headset' | 'pc' | 'server' | 'sensor' | 'gateway';
export const DEVICE_KINDS: readonly DeviceKind[] = ['phone', 'headset', 'pc', 'server', 'sensor', 'gateway'];

export type HealthStatus = 'ok' | 'degraded' | 'fault';
export const HEALTH_STATUSES: readonly HealthStatus[] = ['ok', 'degraded', 'fault'];

/** What a heartbeat may carry: ingest refuses more, and a forwarded entry with more is not one. */
export const HEARTBEAT_BOUNDS = {
  components: 32,
  fwLength: 64,
  /** %. */
  battery: { min: 0, max: 100 },
  /** dBm. */
  rssi: { min: -150, max: 0 },
} as const;

/** One measured value at one moment, the unit of storage. */
export interface Reading {
  device: string;
  metric: MetricName;
  value: number;
  /** Event time, ms since epoch. */
  ts: number;
  /** Zone the device belonged to when the reading was taken; empty when unassigned. */
  zone: string;
  /** Present when the metric is not one of the canonical ones: kept, but flagged. */
  unknownMetric?: true;
  seq?: number;
  /** The value as the sensor reported it, when a calibration offset made `value` (ingest/calibration.ts). */
  uncalibrated?: number;
}

/** Largest calibration offset taken, either way: more than this is a wrong sensor, not a calibration. */
export const MAX_CALIBRATION_OFFSET = 1000;

/**
 * No reading is taken further ahead of the hub's clock than this (ingest.max_clock_skew is held to
 * it): a store asked about later times has nothing to read there.
 */
export const MAX_AHEAD_MS = 86_400_000;

/**
 * Why this is not a reading the journal and the stores can take; undefined when it is one. Ingest
 * checks every reading with it before journaling, and each store again before writing, so nothing
 * that is not a plain reading (a function, NaN, an id that could not be a storage key) gets through.
 */
export function readingProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return 'is not a reading';
  const r = input as Partial<Record<keyof Reading, unknown>>;
  if (typeof r.metric !== 'string' || !METRIC_PATTERN.test(r.metric))
    return `metric ${JSON.stringify(r.metric)} is not a valid metric name`;
  if (typeof r.device !== 'string' || !ID_PATTERN.test(r.device))
    return `device ${JSON.stringify(r.device)} is not a valid id`;
  if (typeof r.zone !== 'string' || (r.zone !== '' && !ID_PATTERN.test(r.zone)))
    return `zone ${JSON.stringify(r.zone)} is not a valid id`;
  if (typeof r.value !== 'number' || !Number.isFinite(r.value))
    return `value ${typeof r.value === 'number' ? String(r.value) : `of type ${typeof r.value}`} is not a finite number`;
  if (!Number.isSafeInteger(r.ts))
    return `time ${typeof r.ts === 'number' ? String(r.ts) : `of type ${typeof r.ts}`} is not a whole number of ms`;
  if (r.seq !== undefined && !Number.isSafeInteger(r.seq)) return `seq of type ${typeof r.seq} is not a whole number`;
  if (r.unknownMetric !== undefined && r.unknownMetric !== true) return 'unknownMetric is neither absent nor true';
  if (r.uncalibrated !== undefined && (typeof r.uncalibrated !== 'number' || !Number.isFinite(r.uncalibrated)))
    return 'uncalibrated value is not a finite number';
  return undefined;
}

export interface ComponentHealth {
  state: HealthStatus;
  code?: string;
}

export interface Heartbeat {
  device: string;
  zone: string;
  ts: number;
  kind?: DeviceKind;
  status: HealthStatus;
  components: Record<string, ComponentHealth>;
  uptimeS?: number;
  fw?: string;
  /** Battery charge, %. */
  battery?: number;
  /** Radio signal strength at the device, dBm. */
  rssi?: number;
}

export type Presence = 'online' | 'offline';

export interface StatusChange {
  /** 'device' for a device's birth/LWT, 'gateway' for a serial gateway the hub watches. */
  subject: 'device' | 'gateway';
  id: string;
  zone: string;
  status: Presence;
  ts: number;
}

/** The longest name of who acted (an operator signing an action) the hub takes. */
export const SIGNED_NAME_MAX = 100;

/** Characters that do not show, or break a line: control, format and default-ignorable ones. */
export const HIDDEN_CHARACTERS = String.raw`[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]`;
const HIDDEN = new RegExp(HIDDEN_CHARACTERS, 'u');
/** An emoji outside ASCII with its presentation selector, skin tone or (a flag's) tags. */
const EMOJI = String.raw`(?![\x00-\x7F])\p{Emoji}(?:\uFE0F|\p{Emoji_Modifier}|[\u{E0020}-\u{E007E}]+\u{E007F})?`;
/** Emoji sequences, which spell with invisible characters: emoji joined by zero-width joiners. */
const EMOJI_SEQUENCE = new RegExp(String.raw`${EMOJI}(?:\u200D${EMOJI})*`, 'gu');
/**
 * A letter or mark of a script of its own that shows: not of the scripts a plain name is mistaken
 * in (Latin, Greek, Cyrillic), nor a mark any script takes (an accent).
 */
const SHOWN = String.raw`(?![\x00-\x7F]|\p{Default_Ignorable_Code_Point}|\p{Script=Latin}|\p{Script=Greek}|\p{Script=Cyrillic}|\p{Script=Inherited}|\p{Script=Common})[\p{L}\p{M}]`;
/**
 * The zero-width joiner and non-joiner as the scripts that need them spell: between two letters
 * or marks (Persian, the Indic scripts), or a joiner after a mark ending a word (Malayalam's
 * older chillu letters).
 */
const JOINER_IN_WORD = new RegExp(
  String.raw`(?<=${SHOWN})[\u200C\u200D](?=${SHOWN})|(?<=(?=${SHOWN})\p{Mn})\u200D(?=\s|$)`,
  'gu',
);

/**
 * Whether a signer's name holds what may not be in it: control characters (C0, C1, DEL), the
 * line and paragraph separators, and characters that do not show (zero-width ones, the
 * bidirectional overrides, fillers) and would make a name read as another. Joiners where a
 * script or an emoji sequence spells with them are part of the name; beside ASCII they would
 * only hide in it.
 */
export function hidesCharacters(name: string): boolean {
  return HIDDEN.test(name.replace(EMOJI_SEQUENCE, '').replace(JOINER_IN_WORD, ''));
}

/**
 * An operator's word that a device no one declared is gone from the floor (retired, replaced,
 * taken home). Journaled, so every consumer drops the device in order with its readings, and a
 * restart or the rules leader of a cluster does the same.
 */
export interface Forgetting {
  device: string;
  /** Who said so, as they gave it: at most SIGNED_NAME_MAX characters. */
  by: string;
  at: number;
}

/** What the journal carries from ingest to its consumers. */
export type Entry = (
  | { type: 'readings'; readings: Reading[] }
  | { type: 'heartbeat'; heartbeat: Heartbeat }
  | { type: 'status'; status: StatusChange }
  | { type: 'forgotten'; forgotten: Forgetting }
) & {
  /**
   * The bridge it came in through, by name: a bridge sends out only what came to the hub itself,
   * or a message would go back and forth between the hub and a broker (or two) for good.
   */
  bridge?: string;
};

/**
 * Why this is not an entry as the journal carries it; undefined when its shape is one. For entries
 * that come from outside this hub's own journal (another hub's, through Redis), which may be of
 * another release's making or damaged: the fields the rules and the device list key on are checked.
 */
export function entryProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return 'is not an entry';
  const e = input as { type?: unknown; readings?: unknown; heartbeat?: unknown; status?: unknown; forgotten?: unknown };
  switch (e.type) {
    case 'readings': {
      if (!Array.isArray(e.readings)) return 'readings are missing';
      for (const r of e.readings as unknown[]) {
        const problem = readingProblem(r);
        if (problem !== undefined) return `a reading: ${problem}`;
      }
      return undefined;
    }
    case 'heartbeat':
      return heartbeatProblem(e.heartbeat);
    case 'status':
      return statusProblem(e.status);
    case 'forgotten':
      return forgettingProblem(e.forgotten);
    default:
      return `type ${typeof e.type === 'string' ? JSON.stringify(e.type.slice(0, 80)) : typeof e.type} is not one the journal carries`;
  }
}

/**
 * The devices an entry speaks of, read defensively: an entry read back from the journal may be of
 * another release's making, or damaged, and looking at it must not throw.
 */
export function devicesOf(entry: unknown): string[] {
  const e = entry as {
    readings?: unknown;
    heartbeat?: { device?: unknown } | null;
    status?: { id?: unknown } | null;
  } | null;
  const candidates = Array.isArray(e?.readings)
    ? e.readings.map((r) => (r as { device?: unknown } | null)?.device)
    : [e?.heartbeat?.device ?? e?.status?.id];
  return candidates.filter((d): d is string => typeof d === 'string' && ID_PATTERN.test(d));
}

/** A value as a message shows it: its text (cut short) or number, or else its type. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  return typeof value === 'number' ? String(value) : `of type ${value === null ? 'null' : typeof value}`;
}

/** The fields of a forwarded entry's part, or why it is not an object. */
function fieldsOf(value: unknown, what: string): Record<string, unknown> | string {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : `${what} is not an object`;
}

function notAnId(what: string, value: unknown, zone = false): string | undefined {
  if (typeof value === 'string' && ((zone && value === '') || ID_PATTERN.test(value))) return undefined;
  return `${what} ${shown(value)} is not a valid id`;
}

function oneOfProblem(what: string, value: unknown, allowed: readonly string[]): string | undefined {
  return typeof value === 'string' && allowed.includes(value)
    ? undefined
    : `${what} ${shown(value)} is not one of ${allowed.join(', ')}`;
}

function timeProblem(what: string, value: unknown): string | undefined {
  if (Number.isSafeInteger(value)) return undefined;
  return `${what} ${shown(value)} is not a whole number of ms`;
}

function numberProblem(what: string, value: unknown, bounds: { min: number; max?: number }): string | undefined {
  if (value === undefined) return undefined;
  const { min, max = Number.MAX_VALUE } = bounds;
  if (typeof value === 'number' && value >= min && value <= max) return undefined;
  const range = bounds.max === undefined ? `≥ ${min}` : `from ${min} to ${max}`;
  return `${what} ${shown(value)} is not a number ${range}`;
}

function heartbeatProblem(input: unknown): string | undefined {
  const h = fieldsOf(input, 'heartbeat');
  if (typeof h === 'string') return h;
  const problem =
    notAnId('heartbeat device', h.device) ??
    notAnId('heartbeat zone', h.zone, true) ??
    timeProblem('heartbeat time', h.ts) ??
    oneOfProblem('heartbeat status', h.status, HEALTH_STATUSES) ??
    (h.kind === undefined ? undefined : oneOfProblem('heartbeat kind', h.kind, DEVICE_KINDS)) ??
    numberProblem('heartbeat uptime', h.uptimeS, { min: 0 }) ??
    numberProblem('heartbeat battery', h.battery, HEARTBEAT_BOUNDS.battery) ??
    numberProblem('heartbeat rssi', h.rssi, HEARTBEAT_BOUNDS.rssi);
  if (problem !== undefined) return problem;
  if (h.fw !== undefined && (typeof h.fw !== 'string' || h.fw.length > HEARTBEAT_BOUNDS.fwLength))
    return `heartbeat fw ${shown(h.fw)} is not a version of at most ${HEARTBEAT_BOUNDS.fwLength} characters`;
  const components = fieldsOf(h.components, 'heartbeat components');
  if (typeof components === 'string') return components;
  const names = Object.keys(components);
  if (names.length > HEARTBEAT_BOUNDS.components)
    return `heartbeat has ${names.length} components (at most ${HEARTBEAT_BOUNDS.components})`;
  for (const name of names) {
    const c = fieldsOf(components[name], `heartbeat component ${shown(name)}`);
    const componentProblem =
      notAnId('heartbeat component', name) ??
      (typeof c === 'string'
        ? c
        : (oneOfProblem(`heartbeat component ${name} state`, c.state, HEALTH_STATUSES) ??
          (c.code === undefined ? undefined : notAnId(`heartbeat component ${name} code`, c.code))));
    if (componentProblem !== undefined) return componentProblem;
  }
  return undefined;
}

function statusProblem(input: unknown): string | undefined {
  const s = fieldsOf(input, 'status');
  if (typeof s === 'string') return s;
  return (
    notAnId('status id', s.id) ??
    oneOfProblem('status subject', s.subject, ['device', 'gateway']) ??
    notAnId('status zone', s.zone, true) ??
    oneOfProblem('status', s.status, ['online', 'offline']) ??
    timeProblem('status time', s.ts)
  );
}

function forgettingProblem(input: unknown): string | undefined {
  const f = fieldsOf(input, 'forgetting');
  if (typeof f === 'string') return f;
  return (
    notAnId('forgetting device', f.device) ??
    (typeof f.by === 'string' && f.by.length > 0 && f.by.length <= SIGNED_NAME_MAX
      ? undefined
      : `forgetting by ${shown(f.by)} is not a name of 1 to ${SIGNED_NAME_MAX} characters`) ??
    (hidesCharacters(f.by as string) ? `forgetting by ${shown(f.by)} is not one line of plain text` : undefined) ??
    timeProblem('forgetting time', f.at)
  );
}
