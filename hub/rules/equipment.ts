// Equipment faults from heartbeats: a component (or, without components, the device) that reports
// degraded is a warning, fault is critical. Codes are the floor procedures' equipment states.
// The heartbeat evaluator of the rules' lifecycle. Pure.
import type { Heartbeat } from '../domain/reading.ts';
import { zoneLabel } from './alerts.ts';
import type { Evaluation } from './lifecycle.ts';
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

/** The faults a heartbeat reports; components are named when it has them. */
export function faultsOf(hb: Heartbeat): Fault[] {
  const faults: Fault[] = [];
  for (const [component, health] of Object.entries(hb.components)) {
    if (health.state === 'ok') continue;
    const code = health.code === undefined ? '' : `: ${codeMeaning(health.code)}`;
    faults.push({
      rule: `equipment.${component}`,
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
}
