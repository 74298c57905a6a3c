// Equipment faults from heartbeats: a component (or, without components, the device) that reports
// degraded is a warning, fault is critical. Codes are the floor procedures' equipment states.
import type { Heartbeat } from '../domain/reading.ts';
import type { Severity } from './requirements.ts';

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

export interface Fault {
  /** 'equipment' for the device as a whole, 'equipment.<component>' for a component. */
  rule: string;
  severity: Severity;
  what: string;
}

/** The faults a heartbeat reports; components are named when it has them. */
export function faultsOf(hb: Heartbeat): Fault[] {
  const faults: Fault[] = [];
  for (const [component, health] of Object.entries(hb.components)) {
    if (health.state === 'ok') continue;
    const code = health.code === undefined ? '' : `: ${CODE_WORDS.get(health.code) ?? health.code}`;
    faults.push({ rule: `equipment.${component}`, severity: health.state === 'fault' ? 'critical' : 'warning', what: `${component} ${health.state}${code}` });
  }
  if (faults.length === 0 && hb.status !== 'ok') {
    faults.push({ rule: 'equipment', severity: hb.status === 'fault' ? 'critical' : 'warning', what: `reports ${hb.status}` });
  }
  return faults;
}
