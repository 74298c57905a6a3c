// Whether a device is alive: heartbeat silence measured against its interval, its MQTT last will,
// and recovery only on fresh data (a birth message alone proves a connection, not a working
// device). Pure; the engine decides when a verdict may raise an alert (start-up grace, gateways).
import { LIVENESS, type Severity } from './requirements.ts';

export interface Presence {
  status: 'online' | 'offline';
  at: number;
}

export interface Liveness {
  /** Newest event time of data from the device (readings, heartbeats). */
  lastSeen?: number;
  presence?: Presence;
  /** The offline alert in force, and the fresh messages counted towards recovery. */
  offline?: { severity: Severity; seenBefore: number; fresh: number };
}

export interface LivenessPolicy {
  intervalMs: number;
  battery: boolean;
}

export interface Verdict {
  severity: Severity;
  reason: string;
}

/** Records data at event time `ts`; true when it completes a recovery. */
export function recordData(l: Liveness, ts: number): boolean {
  l.lastSeen = Math.max(l.lastSeen ?? ts, ts);
  if (!l.offline || ts <= l.offline.seenBefore) return false;
  l.offline.fresh += 1;
  if (l.offline.fresh < LIVENESS.freshMessagesToRecover.value) return false;
  delete l.offline;
  return true;
}

export function recordPresence(l: Liveness, p: Presence): void {
  if (!l.presence || p.at >= l.presence.at) l.presence = p;
}

/** True when the newest signal from the device is its last will. */
export function disconnected(l: Liveness): boolean {
  return l.presence?.status === 'offline' && l.presence.at >= (l.lastSeen ?? -Infinity);
}

function minutes(ms: number): string {
  return ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

/**
 * What silence since `since` (the newer of last data and when the hub could first hear it) means
 * at `now`. Without a policy (a device of unknown interval) only its last will speaks.
 */
export function judge(l: Liveness, policy: LivenessPolicy | undefined, now: number, since: number): Verdict | undefined {
  const lastWill: Verdict = { severity: 'warning', reason: 'disconnected: its last will said offline' };
  if (!policy) return disconnected(l) ? lastWill : undefined;
  const silent = now - since;
  const warnAfter = LIVENESS.silentIntervals.value * policy.intervalMs;
  const critAfter = Math.max(warnAfter, policy.battery ? LIVENESS.batteryCriticalMs.value : LIVENESS.mainsCriticalMs.value);
  const heard = l.lastSeen === undefined ? 'never heard from' : `silent for ${minutes(silent)}`;
  if (silent > critAfter) return { severity: 'critical', reason: `${heard} (reports every ${minutes(policy.intervalMs)}; critical after ${minutes(critAfter)})` };
  if (disconnected(l)) return lastWill;
  if (silent > warnAfter) return { severity: 'warning', reason: `${heard} (reports every ${minutes(policy.intervalMs)})` };
  return undefined;
}
