// What an alert is, as the rules keep it, the API shows it and notifications carry it: its state and
// transitions, silences and what they match, and the read-only view of them the API gets.
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

export interface SilenceMatchers {
  zone?: string;
  device?: string;
  rule?: string;
  severity?: Severity;
}

export interface Silence {
  id: number;
  matchers: SilenceMatchers;
  startsAt: number;
  endsAt: number;
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
    (m.severity === undefined || m.severity === a.severity)
  );
}

/** Whether a silence is in force at a time. */
export function inForce(s: Silence, at: number): boolean {
  return s.startsAt <= at && at < s.endsAt;
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
  /** An alert's transitions, oldest first. */
  readonly history: (id: number) => AlertEvent[];
  /** Silences not yet ended: in force, or scheduled. */
  readonly silences: () => Silence[];
  /** The silences holding back an alert's notifications now. */
  readonly isSilenced: (a: Alert) => number[];
}
