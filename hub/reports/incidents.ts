// Alert history (the store's transitions) turned into incidents: when each alert fired, was
// acknowledged and resolved, and how much of a report's span it covered. Pure.
import { codeMeaning } from '../rules/equipment.ts';
import type { AlertRecord } from '../store/store.ts';

export interface Incident {
  alertId: number;
  key: string;
  rule: string;
  subject: string;
  zone: string;
  /** The highest severity it reached. */
  severity: 'warning' | 'critical';
  summary: string;
  /** An equipment fault's own code, when the device gave one. */
  code?: string;
  /** The value that fired it (an acoustic incident's level). */
  value?: number;
  firingAt: number;
  acknowledgedAt?: number;
  resolvedAt?: number;
}

/**
 * One incident per alert that fired before `to` and was not resolved before `from`. Events at or
 * after `to` are ignored: a report tells what was known at the end of its span.
 */
export function incidents(history: readonly AlertRecord[], from: number, to: number): Incident[] {
  const byAlert = new Map<number, Incident>();
  for (const r of [...history].sort((a, b) => a.at - b.at)) {
    if (r.at >= to) continue;
    let i = byAlert.get(r.alertId);
    if (r.event === 'firing' && !i) {
      i = {
        alertId: r.alertId,
        key: r.key,
        rule: r.rule,
        subject: r.subject,
        zone: r.zone,
        severity: r.severity,
        summary: r.summary,
        ...(r.code !== undefined && { code: r.code }),
        ...(r.value !== undefined && { value: r.value }),
        firingAt: r.at,
      };
      byAlert.set(r.alertId, i);
      continue;
    }
    // Transitions of an alert that fired before the history we were given are not an incident we can time.
    if (!i) continue;
    if (r.severity === 'critical') i.severity = 'critical';
    if (r.event === 'acknowledged') i.acknowledgedAt ??= r.at;
    if (r.event === 'resolved') i.resolvedAt = r.at;
    if (r.event === 'severity' || r.event === 'firing') {
      i.summary = r.summary;
      if (r.code !== undefined) i.code = r.code;
    }
  }
  return [...byAlert.values()]
    .filter((i) => i.resolvedAt === undefined || i.resolvedAt >= from)
    .sort((a, b) => a.firingAt - b.firingAt || a.alertId - b.alertId);
}

/** How long the incident lasted inside [from, to). */
export function overlapMs(i: Incident, from: number, to: number): number {
  return Math.max(0, Math.min(i.resolvedAt ?? to, to) - Math.max(i.firingAt, from));
}

/** Total time inside [from, to) covered by any of the incidents (overlaps counted once). */
export function coveredMs(list: readonly Incident[], from: number, to: number): number {
  const spans = list
    .map((i) => [Math.max(i.firingAt, from), Math.min(i.resolvedAt ?? to, to)] as const)
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [s, e] of spans) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total;
}

export const isOffline = (i: Incident): boolean => i.rule === 'offline' || i.rule === 'gateway_offline';
export const isFault = (i: Incident): boolean => i.rule === 'equipment' || i.rule.startsWith('equipment.');
export const isAcoustic = (i: Incident): boolean => i.rule === 'acoustic_shock';

/**
 * The fault an equipment alert names, e.g. "headset: call drop-outs": from its code; for history
 * kept before codes were, from its summary, which the rule engine writes as
 * "<device label>: <component> <state>[: <what the code means>]".
 */
export function faultName(i: Incident): string {
  if (isAcoustic(i)) return 'headset: acoustic shock';
  const component = i.rule.startsWith('equipment.') ? i.rule.slice('equipment.'.length) : 'device';
  // A rule named after its one code (battery_low) needs saying once.
  if (i.code !== undefined) return component === i.code ? codeMeaning(i.code) : `${component}: ${codeMeaning(i.code)}`;
  const parts = i.summary.split(': ');
  const last = parts.at(-1) ?? i.summary;
  // With a code the last part is its meaning; without one it is "<component> <state>".
  const what = parts.length > 2 || !last.startsWith(`${component} `) ? last : last.slice(component.length + 1);
  return `${component}: ${what}`;
}
