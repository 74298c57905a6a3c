// The equipment record a maintenance plan is made from: per device and per kind, availability,
// incidents, mean time to repair and the most frequent faults, from the alert history. A device is
// down while an offline alert or a critical (fault) equipment alert is open; degraded equipment
// still works, so it counts as an incident but not as downtime. Pure.
import { coveredMs, faultName, isAcoustic, isFault, isOffline, type Incident } from './incidents.ts';

export interface KnownDevice {
  id: string;
  kind: string | null;
  zone: string | null;
  /** From the last heartbeat that said: battery %, signal dBm, firmware version. */
  battery?: number | null;
  rssi?: number | null;
  fw?: string | null;
}

/** What the device said last of its own health, for the maintenance plan. */
export interface DeviceHealth {
  battery: number | null;
  rssi: number | null;
  fw: string | null;
}

export interface FaultCount {
  fault: string;
  count: number;
}

export interface EquipmentFigures {
  availabilityPercent: number;
  downtimeMs: number;
  incidents: number;
  /** Mean time from firing to resolution of the incidents resolved within the span; null when none was. */
  mttrMs: number | null;
  faults: FaultCount[];
}

export interface EquipmentReport {
  from: number;
  to: number;
  devices: (EquipmentFigures & DeviceHealth & { device: string; kind: string; zone: string | null })[];
  kinds: (EquipmentFigures & { kind: string; devices: number })[];
  /** Most frequent first. */
  faults: FaultCount[];
  notes: string[];
}

function faultCounts(list: readonly Incident[]): FaultCount[] {
  const counts = new Map<string, number>();
  for (const i of list.filter((x) => isFault(x) || isAcoustic(x)))
    counts.set(faultName(i), (counts.get(faultName(i)) ?? 0) + 1);
  return [...counts]
    .map(([fault, count]) => ({ fault, count }))
    .sort((a, b) => b.count - a.count || a.fault.localeCompare(b.fault));
}

function mttr(list: readonly Incident[], from: number, to: number): number | null {
  const repaired = list.filter((i) => i.resolvedAt !== undefined && i.resolvedAt >= from && i.resolvedAt < to);
  return repaired.length === 0 ? null : repaired.reduce((s, i) => s + i.resolvedAt! - i.firingAt, 0) / repaired.length;
}

export function equipmentReport(
  history: readonly Incident[],
  known: readonly KnownDevice[],
  from: number,
  to: number,
): EquipmentReport {
  const span = to - from;
  const relevant = history.filter((i) => isOffline(i) || isFault(i) || isAcoustic(i));
  const devices = new Map<string, KnownDevice>(known.map((d) => [d.id, d]));
  for (const i of relevant)
    if (!devices.has(i.subject))
      devices.set(i.subject, { id: i.subject, kind: i.rule === 'gateway_offline' ? 'gateway' : null, zone: i.zone });

  // Each device's incidents in the history's order, gathered in one pass: a year's history and
  // thousands of devices made a filter per device take many seconds.
  const bySubject = new Map<string, Incident[]>();
  for (const i of relevant) {
    const list = bySubject.get(i.subject);
    if (list) list.push(i);
    else bySubject.set(i.subject, [i]);
  }
  const rows = [...devices.values()]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((d) => {
      const own = bySubject.get(d.id) ?? [];
      // An acoustic incident is recorded against the headset, but it still works.
      const downtimeMs = coveredMs(
        own.filter((i) => isOffline(i) || (isFault(i) && i.severity === 'critical')),
        from,
        to,
      );
      return {
        device: d.id,
        kind: d.kind ?? 'unknown',
        zone: d.zone,
        availabilityPercent: (100 * (span - downtimeMs)) / span,
        downtimeMs,
        incidents: own.length,
        mttrMs: mttr(own, from, to),
        faults: faultCounts(own),
        battery: d.battery ?? null,
        rssi: d.rssi ?? null,
        fw: d.fw ?? null,
      };
    });

  const kinds = [...new Set(rows.map((r) => r.kind))].sort().map((kind) => {
    const members = rows.filter((r) => r.kind === kind);
    const ids = new Set(members.map((m) => m.device));
    const own = relevant.filter((i) => ids.has(i.subject));
    const downtimeMs = members.reduce((s, m) => s + m.downtimeMs, 0);
    return {
      kind,
      devices: members.length,
      // Device-time available: every device counts for the whole span.
      availabilityPercent: (100 * (members.length * span - downtimeMs)) / (members.length * span),
      downtimeMs,
      incidents: own.length,
      mttrMs: mttr(own, from, to),
      faults: faultCounts(own),
    };
  });

  return {
    from,
    to,
    devices: rows,
    kinds,
    faults: faultCounts(relevant),
    notes: [
      'A device is counted down while an offline alert or a fault (critical equipment alert) is open; degraded equipment is an incident, not downtime. Devices come from the configuration, from those that reported, and from the alert history.',
    ],
  };
}
