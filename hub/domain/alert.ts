// What an alert is, as the rules keep it, the API shows it and notifications carry it: its state and
// transitions, silences and what they match, and the read-only view of them the API gets.
import { localTime, previousDay } from './hours.ts';
import type { Severity } from './requirement.ts';

export type AlertState = 'pending' | 'firing' | 'resolved';
export type AlertEventKind = 'firing' | 'severity' | 'resolved' | 'acknowledged' | 'escalated' | 'reminder';
export const ALERT_EVENT_KINDS: readonly AlertEventKind[] = [
  'firing',
  'severity',
  'resolved',
  'acknowledged',
  'escalated',
  'reminder',
];
export const ALERT_STATES: readonly AlertState[] = ['pending', 'firing', 'resolved'];

export interface Alert {
  id: number;
  /** The fingerprint: rule + subject. One live alert per key. */
  key: string;
  rule: string;
  /** The device, gateway or 'hub' the alert is about. */
  subject: string;
  zone: string;
  state: AlertState;
  severity: Severity;
  summary: string;
  value?: number;
  threshold?: number;
  unit?: string;
  source?: string;
  /** Since when the condition held (pending start). */
  startsAt: number;
  firingAt?: number;
  resolvedAt?: number;
  /** Since when the alert fires at critical, for escalation. */
  criticalSince?: number;
  ack?: { by: string; at: number; comment?: string };
  escalatedAt?: number;
  /** The equipment's own fault code, as its heartbeat reported it (e.g. "dropout"). */
  code?: string;
  /** Per route with a repeat interval: when the alert was last notified through it ([route, at]). */
  reminded?: [string, number][];
  updatedAt: number;
}

/** What an alert is about, for routing and grouping: the rule's family. */
export type AlertKind = 'environment' | 'equipment' | 'offline' | 'stale' | 'hub' | 'flapping';
export const ALERT_KINDS: readonly AlertKind[] = ['environment', 'equipment', 'offline', 'stale', 'hub', 'flapping'];

export function alertKind(a: Pick<Alert, 'rule' | 'zone'>): AlertKind {
  if (a.zone === 'hub') return 'hub';
  const family = a.rule.split('.')[0];
  if (family === 'equipment') return 'equipment';
  if (family === 'offline' || family === 'gateway_offline') return 'offline';
  if (family === 'stale') return 'stale';
  if (family === 'flapping') return 'flapping';
  return 'environment';
}

/**
 * Whether a value from outside this process (a copy of the rules' state another hub wrote to
 * Redis) is an alert event as far as its readers go: a known kind, its time, whether it was told,
 * and the alert's key, subject and zone.
 */
export function isAlertEvent(value: unknown): value is AlertEvent {
  // Own fields only: nothing a polluted prototype lends.
  const own = (object: unknown, field: string): unknown =>
    typeof object === 'object' && object !== null && Object.hasOwn(object, field)
      ? (object as Record<string, unknown>)[field]
      : undefined;
  const kind = own(value, 'kind');
  const alert = own(value, 'alert');
  return (
    typeof kind === 'string' &&
    (ALERT_EVENT_KINDS as readonly string[]).includes(kind) &&
    Number.isFinite(own(value, 'at')) &&
    typeof own(value, 'notified') === 'boolean' &&
    typeof own(alert, 'key') === 'string' &&
    typeof own(alert, 'subject') === 'string' &&
    typeof own(alert, 'zone') === 'string'
  );
}

export interface AlertEvent {
  alertId: number;
  key: string;
  kind: AlertEventKind;
  at: number;
  alert: Alert;
  /** False when a silence or flapping held the notification back. */
  notified: boolean;
  /** Why it was held. */
  heldBy?: string;
  /** A notification sent late, once a silence or flapping no longer held it; not a new transition. */
  late?: true;
  /** A reminder goes only to the route whose repeat interval it keeps. */
  route?: string;
}

/** A rule's name as silences and routes give it: co2, noise_peak, offline, equipment.headset. */
export const RULE_PATTERN = /^[a-z][a-z0-9_]{0,40}(\.[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$/;

export interface SilenceMatchers {
  zone?: string;
  device?: string;
  rule?: string;
  severity?: Severity;
  kind?: AlertKind;
  key?: string;
}

/**
 * A maintenance window that comes back: weekly on some weekdays, or monthly on the nth weekday
 * ("3rd Tuesday"; nth -1 is the last), from a local time for a while (at most a day, so it may
 * cross midnight), in the site's time zone.
 */
export interface Recurrence {
  every: 'week' | 'month';
  /** Weekly: the weekdays (0 = Sunday). */
  days?: number[];
  /** Monthly: which one of the month's `weekday`s. */
  nth?: number;
  weekday?: number;
  /** Minutes after local midnight. */
  startMinute: number;
  durationMs: number;
  timeZone: string;
}

export interface Silence {
  id: number;
  matchers: SilenceMatchers;
  /** The span the silence (or the recurring window) is in force within. */
  startsAt: number;
  endsAt: number;
  recurrence?: Recurrence;
  createdBy: string;
  comment: string;
  createdAt: number;
}

export interface AlertFilter {
  state?: AlertState;
  zone?: string;
  severity?: Severity;
  limit?: number;
}

/** Whether a silence's matchers cover an alert: every matcher given agrees (a rule covers its sub-rules). */
export function matches(m: SilenceMatchers, a: Alert): boolean {
  return (
    (m.zone === undefined || m.zone === a.zone) &&
    (m.device === undefined || m.device === a.subject) &&
    (m.rule === undefined || a.rule === m.rule || a.rule.startsWith(`${m.rule}.`)) &&
    (m.severity === undefined || m.severity === a.severity) &&
    (m.kind === undefined || m.kind === alertKind(a)) &&
    (m.key === undefined || m.key === a.key)
  );
}

/** Whether a recurring window falls on a local day. */
function onDay(r: Recurrence, day: { weekday: number; day: number; daysInMonth: number }): boolean {
  if (r.every === 'week') return r.days?.includes(day.weekday) ?? false;
  if (day.weekday !== r.weekday) return false;
  return r.nth === -1 ? day.day + 7 > day.daysInMonth : Math.ceil(day.day / 7) === r.nth;
}

/** Whether a moment is inside one of a recurrence's windows: today's, or yesterday's running past midnight. */
export function inWindow(r: Recurrence, at: number): boolean {
  const now = localTime(at, r.timeZone);
  if (onDay(r, now) && now.minute >= r.startMinute && (now.minute - r.startMinute) * 60_000 < r.durationMs) return true;
  // Yesterday by the calendar, not 24 h ago: a day of a change of clocks has 23 or 25 hours.
  return onDay(r, previousDay(now)) && (now.minute + 1440 - r.startMinute) * 60_000 < r.durationMs;
}

/** Whether a silence is in force at a time. */
export function inForce(s: Silence, at: number): boolean {
  return s.startsAt <= at && at < s.endsAt && (s.recurrence === undefined || inWindow(s.recurrence, at));
}

/** What the API may read of alert state: nothing here writes, and nothing here can be replaced. */
/**
 * An operator's changes to alert state. A hub alone makes them at once; in a cluster they go to
 * the rules leader, and the answer comes back.
 */
export interface AlertChanges {
  ack(id: number, by: string, comment?: string): Alert | Promise<Alert>;
  addSilence(s: Omit<Silence, 'id' | 'createdAt'>): Silence | Promise<Silence>;
  removeSilence(id: number): boolean | Promise<boolean>;
}

export interface AlertView {
  /** Newest first. */
  readonly alerts: (filter: AlertFilter) => Alert[];
  readonly alert: (id: number) => Alert | undefined;
  /** An alert's transitions, oldest first: its first and the newest up to 999 more; `total` counts all it has. */
  readonly history: (id: number) => { shown: AlertEvent[]; total: number };
  /** Silences not yet ended: in force, or scheduled. */
  readonly silences: () => Silence[];
  /**
   * The silences in force now, read once: a function naming those that hold back an alert's
   * notifications, for as many alerts as an answer lists.
   */
  readonly silencedNow: () => (a: Alert) => number[];
}
