// What a new configuration changes against the running one, in the words a reload reports, and
// which of it the hub can take on while it runs. The site's description (zones, devices, site
// hours and seasons, rules), who hears of alerts (receivers, routes, webhooks), the silences the file
// keeps, the floor plan, the limits, ingest's checks and the topic rules are taken on live; what the hub opened at start (listeners, TLS,
// storage, data directory, serial ports, bridges, the cluster) and the few settings built into
// what it opened (below) need a restart and are left as they were. Pure.
import { createHash } from 'node:crypto';
import type { Config } from './schema.ts';

/** Sections the running hub takes on at a reload. */
export const LIVE_SECTIONS = [
  'site',
  'zones',
  'devices',
  'rules',
  'notify',
  'limits',
  'ingest',
  'security',
  'silences',
  'layout',
] as const satisfies readonly (keyof Config)[];
/** Fields of those sections that parts opened at start hold. */
const RESTART_FIELDS: ReadonlyArray<[section: (typeof LIVE_SECTIONS)[number], field: string]> = [
  // In every stored alert, report and dashboard, and every recurring window's wall-clock times.
  ['site', 'name'],
  ['site', 'timezone'],
  // Who may connect at all, and how: the listeners were opened for it.
  ['security', 'allow_anonymous'],
  ['security', 'require_tls'],
  ['security', 'tls'],
  ['security', 'login_failures'],
  // The largest packet sizes the MQTT, WebSocket and HTTP servers were opened with.
  ['ingest', 'max_payload_bytes'],
  ['limits', 'max_packet_bytes'],
  ['ingest', 'rejections_kept'],
  ['limits', 'api_requests_per_minute'],
  ['limits', 'http_answer_timeout'],
  ['limits', 'http_request_timeout'],
  ['limits', 'http_unread_bytes'],
  ['limits', 'max_event_streams'],
  ['limits', 'max_event_streams_per_token'],
  ['limits', 'password_checks_at_once'],
  ['limits', 'password_checks_waiting'],
  ['limits', 'reports_at_once'],
  ['limits', 'reports_waiting'],
];

/** What a reload answers (the API, the log, the audit). */
export interface ReloadAnswer {
  /** False when the configuration read has problems (the hub runs on as it was), or a part could not take it on (problems say which). */
  ok: boolean;
  problems: string[];
  /** What changed now. */
  applied: string[];
  /** What the file changes that takes a restart; left as it was. */
  needsRestart: string[];
  /** The configuration the hub runs on now. */
  hash: string;
  loadedAt: number;
}

export interface ConfigChanges {
  /** What changes now, one line each. */
  applied: string[];
  /** What would change at the next restart, and is left as it was until then. */
  needsRestart: string[];
  /** Declared devices and zones the new configuration no longer has. */
  removed: { devices: string[]; zones: string[] };
}

const isLive = (section: string): boolean => (LIVE_SECTIONS as readonly string[]).includes(section);

/** Fields that may hold a credential (a URL can carry a password): never shown. */
const SECRET = /password|secret|token|url/i;

/** A value as a reload names it: short, and never a secret. */
function shown(value: unknown, field = ''): string {
  if (value === undefined) return 'unset';
  if (SECRET.test(field) && typeof value === 'string') return '"…"';
  const text = JSON.stringify(value, (key, v: unknown) => (SECRET.test(key) && typeof v === 'string' ? '…' : v));
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** JSON with every object's keys sorted: the same content gives the same text, whatever the order in the file. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function same(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** Lists of things with an id: what was added, removed and changed, by id. */
function byId(
  what: string,
  before: readonly { id: string }[],
  after: readonly { id: string }[],
): { lines: string[]; removed: string[] } {
  const old = new Map(before.map((x) => [x.id, x]));
  const next = new Map(after.map((x) => [x.id, x]));
  const added = [...next.keys()].filter((id) => !old.has(id));
  const removed = [...old.keys()].filter((id) => !next.has(id));
  const changed = [...next.keys()].filter((id) => old.has(id) && !same(old.get(id), next.get(id)));
  const lines: string[] = [];
  if (added.length > 0) lines.push(`${what} added: ${added.join(', ')}`);
  if (removed.length > 0) lines.push(`${what} removed: ${removed.join(', ')}`);
  if (changed.length > 0) lines.push(`${what} changed: ${changed.join(', ')}`);
  return { lines, removed };
}

/** The fields of a section that differ, as `section.field: before → after`. */
function fieldChanges(section: string, before: unknown, after: unknown): string[] {
  if (same(before, after)) return [];
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isRecord(before) || !isRecord(after)) return [`${section}: ${shown(before)} → ${shown(after)}`];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((k) => !same(before[k], after[k]))
    .map((k) => `${section}.${k}: ${shown(before[k], k)} → ${shown(after[k], k)}`);
}

export function configChanges(running: Config, next: Config): ConfigChanges {
  const applied: string[] = [];
  const needsRestart: string[] = [];
  const devices = byId('devices', running.devices, next.devices);
  const zones = byId('zones', running.zones, next.zones);
  for (const section of Object.keys({ ...running, ...next }) as (keyof Config)[]) {
    if (section === 'devices' || section === 'zones') continue;
    for (const line of fieldChanges(section, running[section], next[section])) {
      const restart = !isLive(section) || RESTART_FIELDS.some(([s, field]) => line.startsWith(`${s}.${field}:`));
      (restart ? needsRestart : applied).push(line);
    }
  }
  applied.unshift(...zones.lines, ...devices.lines);
  return { applied, needsRestart, removed: { devices: devices.removed, zones: zones.removed } };
}

/** The configuration the hub runs on after a reload: the new one's live sections, the running one's others. */
export function appliedConfig(running: Config, next: Config): Config {
  const out: Config = { ...running };
  for (const section of LIVE_SECTIONS) (out as Record<string, unknown>)[section] = structuredClone(next[section]);
  for (const [section, field] of RESTART_FIELDS)
    (out[section] as Record<string, unknown>)[field] = (running[section] as Record<string, unknown>)[field];
  return out;
}

/** A short fingerprint of a configuration, for health and the hub's status: which one runs. */
export function configHash(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12);
}
