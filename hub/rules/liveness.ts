// Whether a device is alive: heartbeat silence measured against its interval, its MQTT last will,
// and recovery only on fresh data (a birth message alone proves a connection, not a working
// device); and the evaluators of the rules' lifecycle that decide when a verdict raises an alert:
// presence changes, and the tick's silence (start-up grace, gateways). Pure.
//
// Silence is measured from the newest of the device's last data, a birth since this start, the
// hub's start and its gateway coming back. Devices behind a gateway that is down are not judged:
// the gateway raises the one alert.
import type { StatusChange } from '../domain/reading.ts';
import { zoneLabel } from './wording.ts';
import type { DeviceState, Evaluation } from './lifecycle.ts';
import { LIVENESS } from './requirements.ts';
import { SEVERITY_RANK } from './threshold.ts';
import type { Severity } from '../domain/requirement.ts';
import { counted } from '../domain/counted.ts';

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
  /** The last gaps between its data, newest last: the cadence of a device no one declared. */
  gaps?: number[];
}

/**
 * Gaps kept per device, and how many make a cadence worth judging silence by. A gap under a second
 * is a burst (telemetry and a heartbeat together, a batch of samples), not the cadence.
 */
const GAPS_KEPT = 32;
const GAPS_NEEDED = 5;
const MIN_GAP_MS = 1000;
/** An observed cadence is taken within these bounds: no alarm at 30 ms, none only after days. */
const OBSERVED_MIN_MS = 10_000;
const OBSERVED_MAX_MS = 6 * 3_600_000;

/**
 * How often a device no one declared reports, from its own data: the longest of its last gaps
 * (a device that sends in batches is judged by the pause between batches, never by the samples
 * inside one), within bounds; undefined until it has shown a cadence.
 */
function observedInterval(l: Liveness): number | undefined {
  const gaps = l.gaps ?? [];
  if (gaps.length < GAPS_NEEDED) return undefined;
  return Math.min(OBSERVED_MAX_MS, Math.max(OBSERVED_MIN_MS, ...gaps));
}

export interface GatewayState {
  zone: string;
  presence?: Presence;
  /** When it last came back: devices behind it are judged from then on. */
  backAt?: number;
}

/** The interval assumed for a device or metric whose own is not known. */
export const DEFAULT_INTERVAL_MS = 60_000;

export interface LivenessPolicy {
  intervalMs: number;
  battery: boolean;
  /** The interval was observed, not declared. */
  observed?: boolean;
}

export interface Verdict {
  severity: Severity;
  reason: string;
}

/** Records data at event time `ts`; true when it completes a recovery. */
export function recordData(l: Liveness, ts: number): boolean {
  // Several metrics of one message share a time: only a later one is a gap.
  if (l.lastSeen !== undefined && ts - l.lastSeen >= MIN_GAP_MS) {
    const gaps = (l.gaps ??= []);
    gaps.push(ts - l.lastSeen);
    if (gaps.length > GAPS_KEPT) gaps.shift();
  }
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
  return ms >= 3_600_000
    ? `${(ms / 3_600_000).toFixed(1)} h`
    : ms >= 120_000
      ? `${Math.round(ms / 60_000)} min`
      : `${Math.round(ms / 1000)} s`;
}

/**
 * What silence since `since` (the newer of last data and when the hub could first hear it) means
 * at `now`. Without a policy (a device of unknown interval) only its last will speaks.
 */
export function judge(
  l: Liveness,
  policy: LivenessPolicy | undefined,
  now: number,
  since: number,
): Verdict | undefined {
  const lastWill: Verdict = { severity: 'warning', reason: 'disconnected: its last will said offline' };
  if (!policy) return disconnected(l) ? lastWill : undefined;
  const silent = now - since;
  const warnAfter = LIVENESS.silentIntervals.value * policy.intervalMs;
  const critAfter = Math.max(
    warnAfter,
    policy.battery ? LIVENESS.batteryCriticalMs.value : LIVENESS.mainsCriticalMs.value,
  );
  const heard = l.lastSeen === undefined ? 'never heard from' : `silent for ${minutes(silent)}`;
  const cadence = policy.observed
    ? `reported about every ${minutes(policy.intervalMs)}, as observed; not declared`
    : `reports every ${minutes(policy.intervalMs)}`;
  if (silent > critAfter)
    return { severity: 'critical', reason: `${heard} (${cadence}; critical after ${minutes(critAfter)})` };
  if (disconnected(l)) return lastWill;
  if (silent > warnAfter) return { severity: 'warning', reason: `${heard} (${cadence})` };
  return undefined;
}

/** Data from a device at event time `ts`: it may complete a recovery, its own or its gateway's. */
export function heard(ev: Evaluation, id: string, d: DeviceState, ts: number): void {
  if (recordData(d.life, ts)) {
    ev.find('offline', id, d.zone, { state: 'ok', at: ts });
    // A gateway that is back: the devices behind it get their time to report again.
    if (ev.site.behind.has(id)) ev.gateway(id).backAt = ts;
  }
}

/** A birth, a last will, or a serial gateway's presence. */
export function onStatus(ev: Evaluation, st: StatusChange): void {
  const presence: Presence = { status: st.status, at: st.ts };
  if (st.subject === 'gateway') {
    const g = ev.gateway(st.id);
    if (st.zone) g.zone = st.zone;
    if (g.presence && st.ts < g.presence.at) return;
    const wasDown = g.presence?.status === 'offline';
    g.presence = presence;
    if (st.status === 'online') {
      if (wasDown) g.backAt = st.ts;
      ev.find('gateway_offline', st.id, st.zone, { state: 'ok', at: st.ts });
    }
    return;
  }
  recordPresence(ev.device(st.id, st.zone).life, presence);
}

function gatewayDown(ev: Evaluation, id: string): boolean {
  return (
    ev.state.gateways.get(id)?.presence?.status === 'offline' || ev.state.devices.get(id)?.life.offline !== undefined
  );
}

/** Whether the device is behind a gateway that is down: the gateway's one alert speaks for it. */
export function heldByGateway(ev: Evaluation, id: string): boolean {
  const gw = ev.site.settings.gatewayOf.get(id);
  return gw !== undefined && gatewayDown(ev, gw);
}

/** A device's silence at the tick: declared devices by their interval, others by their last will only. */
export function livenessTick(ev: Evaluation, id: string, d: DeviceState): void {
  const { now, site } = ev;
  const declared = site.settings.devices.get(id);
  const gw = site.settings.gatewayOf.get(id);
  const watched = declared !== undefined || gw !== undefined;
  // A device no one declared is judged by the cadence it has shown; until then only its last will
  // speaks. A serial gateway's own frames are not: its gateway_offline alert speaks for it.
  const gateway = site.behind.has(id) || ev.state.gateways.has(id);
  const observed = watched || gateway ? undefined : observedInterval(d.life);
  if (!watched && observed === undefined && d.life.presence?.status !== 'offline') return;
  if (now < site.graceUntil) return;
  if (heldByGateway(ev, id)) return;
  // Silence counts from the newest of: last data, a birth, this start, the gateway coming back.
  const since = Math.max(
    d.life.lastSeen ?? -Infinity,
    site.startedAt,
    gw !== undefined ? (ev.state.gateways.get(gw)?.backAt ?? -Infinity) : -Infinity,
    d.life.presence?.status === 'online' ? d.life.presence.at : -Infinity,
  );
  const policy = watched
    ? { intervalMs: declared?.intervalMs ?? DEFAULT_INTERVAL_MS, battery: declared?.battery ?? false }
    : observed !== undefined
      ? { intervalMs: observed, battery: false, observed: true }
      : undefined;
  const verdict = judge(d.life, policy, now, since);
  if (!verdict) return;
  if (d.life.offline && SEVERITY_RANK[d.life.offline.severity] >= SEVERITY_RANK[verdict.severity]) return;
  d.life.offline = { severity: verdict.severity, seenBefore: d.life.lastSeen ?? 0, fresh: 0 };
  ev.markChanged(id);
  const behind = site.behind.get(id) ?? 0;
  const held =
    behind > 0 ? `; the offline alerts of the ${counted(behind, 'device')} behind it are held until it is back` : '';
  ev.find('offline', id, d.zone, {
    state: 'firing',
    severity: verdict.severity,
    at: now,
    summary: `${d.kind ?? 'device'} ${id} in ${zoneLabel(d.zone)} is offline: ${verdict.reason}${held}`,
  });
}

/** A gateway that reported offline raises one alert; the devices behind it are held meanwhile. */
export function gatewaysTick(ev: Evaluation): void {
  for (const [id, g] of ev.state.gateways) {
    if (g.presence?.status !== 'offline') continue;
    ev.find('gateway_offline', id, g.zone, {
      state: 'firing',
      severity: 'critical',
      at: ev.now,
      summary: `gateway ${id} is offline; the offline alerts of the ${counted(ev.site.behind.get(id) ?? 0, 'device')} behind it are held until it is back`,
    });
  }
}
