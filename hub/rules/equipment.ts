// Equipment faults from heartbeats: a component (or, without components, the device) that reports
// degraded is a warning, fault is critical. Codes are the floor procedures' equipment states.
// The heartbeat evaluator of the rules' lifecycle. Pure.
import type { Heartbeat } from '../domain/reading.ts';
import { zoneLabel } from './wording.ts';
import type { DeviceState, Evaluation } from './lifecycle.ts';
import { heard } from './liveness.ts';
import type { Severity } from '../domain/requirement.ts';

const CODE_WORDS = new Map<string, string>([
  ['noise', 'call noise'],
  ['dropout', 'call drop-outs'],
  ['drop_outs', 'call drop-outs'],
  ['slow', 'running slow'],
  ['frozen', 'frozen'],
  ['input_stuck', 'input devices stuck'],
  ['flicker', 'display flicker'],
  ['overheating', 'overheating'],
  ['data_errors', 'data errors'],
  ['acoustic_incident', 'acoustic incident flagged by the headset'],
  ['battery_low', 'battery low'],
  ['weak_signal', 'weak signal'],
]);

/** What a fault code means, in the floor procedures' words; an unknown code as it was sent. */
export function codeMeaning(code: string): string {
  return CODE_WORDS.get(code) ?? code;
}

export interface Fault {
  /** 'equipment' for the device as a whole, 'equipment.<component>' for a component. */
  rule: string;
  severity: Severity;
  what: string;
  /** The code the heartbeat gave, as sent. */
  code?: string;
}

/**
 * The rule of a component's own report. A component named as one of the hub's own judgements
 * (DEVICE_HEALTH: a device may well call a component battery_low) is told apart, or its report
 * going ok would resolve a low battery the hub still sees, and the other way round.
 */
function componentRule(component: string): string {
  const rule = `equipment.${component}`;
  return DEVICE_HEALTH.some((h) => h.rule === rule) ? `${rule}.reported` : rule;
}

/** The faults a heartbeat reports; components are named when it has them. */
export function faultsOf(hb: Heartbeat): Fault[] {
  const faults: Fault[] = [];
  for (const [component, health] of Object.entries(hb.components)) {
    if (health.state === 'ok') continue;
    const code = health.code === undefined ? '' : `: ${codeMeaning(health.code)}`;
    faults.push({
      rule: componentRule(component),
      severity: health.state === 'fault' ? 'critical' : 'warning',
      what: `${component} ${health.state}${code}`,
      ...(health.code !== undefined && { code: health.code }),
    });
  }
  if (faults.length === 0 && hb.status !== 'ok') {
    faults.push({
      rule: 'equipment',
      severity: hb.status === 'fault' ? 'critical' : 'warning',
      what: `reports ${hb.status}`,
    });
  }
  return faults;
}

/**
 * What a heartbeat may say of the device's own health: a warning at or below the first number,
 * cleared only at or above the second, so a level wavering at the limit warns once.
 */
export const DEVICE_HEALTH = [
  {
    rule: 'equipment.battery_low',
    code: 'battery_low',
    field: 'battery',
    warnAtOrBelow: 20,
    clearAtOrAbove: 25,
    unit: '%',
    // Wireless headsets and sensors report about a day left at 20 % (engineering judgement).
    source: 'engineering judgement',
  },
  {
    rule: 'equipment.weak_signal',
    code: 'weak_signal',
    field: 'rssi',
    warnAtOrBelow: -85,
    clearAtOrAbove: -80,
    unit: 'dBm',
    // Wi-Fi and DECT links drop packets and calls below about -80 to -85 dBm (engineering judgement).
    source: 'engineering judgement',
  },
] as const;

/** Battery and signal: each warns past its limit and clears only well inside it. */
function judgeHealth(ev: Evaluation, hb: Heartbeat, d: DeviceState, label: string): void {
  for (const h of DEVICE_HEALTH) {
    const value = hb[h.field];
    if (value === undefined) continue;
    const raised = d.low?.includes(h.rule) === true;
    if (!raised && value <= h.warnAtOrBelow) {
      ev.find(h.rule, hb.device, d.zone, {
        state: 'firing',
        severity: 'warning',
        at: hb.ts,
        summary: `${label}: ${codeMeaning(h.code)}: ${value} ${h.unit}, at or below ${h.warnAtOrBelow} ${h.unit} (clears at ${h.clearAtOrAbove} ${h.unit})`,
        value,
        threshold: h.warnAtOrBelow,
        unit: h.unit,
        source: h.source,
        code: h.code,
      });
      d.low = [...(d.low ?? []), h.rule];
    } else if (raised && value >= h.clearAtOrAbove) {
      ev.find(h.rule, hb.device, d.zone, { state: 'ok', at: hb.ts, value });
      d.low = d.low?.filter((r) => r !== h.rule);
    }
  }
}

/** A heartbeat: data for liveness, and the faults it reports fire while those it no longer reports resolve. */
export function onHeartbeat(ev: Evaluation, hb: Heartbeat): void {
  const d = ev.device(hb.device, hb.zone);
  heard(ev, hb.device, d, hb.ts);
  if (hb.kind) d.kind = hb.kind;
  if (d.heartbeatAt !== undefined && hb.ts <= d.heartbeatAt) return;
  d.heartbeatAt = hb.ts;
  const faults = faultsOf(hb);
  const label = `${d.kind ?? 'device'} ${hb.device} in ${zoneLabel(d.zone)}`;
  for (const f of faults)
    ev.find(f.rule, hb.device, d.zone, {
      state: 'firing',
      severity: f.severity,
      at: hb.ts,
      summary: `${label}: ${f.what}`,
      ...(f.code !== undefined && { code: f.code }),
    });
  for (const rule of d.faults)
    if (!faults.some((f) => f.rule === rule)) ev.find(rule, hb.device, d.zone, { state: 'ok', at: hb.ts });
  d.faults = faults.map((f) => f.rule);
  judgeHealth(ev, hb, d, label);
}
