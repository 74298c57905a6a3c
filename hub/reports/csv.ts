// Reports as CSV for a spreadsheet or a maintenance system's import (RFC 4180: comma-separated,
// CRLF line ends, quotes doubled). A cell a spreadsheet would run as a formula (=, +, -, @, tab,
// return at its start) is written with a leading apostrophe, as OWASP advises: a fault code or a
// zone name comes from outside. Pure.
import type { EquipmentReport } from './equipment.ts';

function cell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(columns: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  return [columns, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

const minutes = (ms: number | null) => (ms === null ? null : Math.round(ms / 600) / 100);

/** One row per device: the figures a maintenance plan imports, times in minutes, the span in ISO 8601. */
export function equipmentCsv(r: EquipmentReport): string {
  const from = new Date(r.from).toISOString();
  const to = new Date(r.to).toISOString();
  return toCsv(
    [
      'device',
      'kind',
      'zone',
      'availability_percent',
      'downtime_minutes',
      'incidents',
      'mean_time_to_repair_minutes',
      'faults',
      'battery_percent',
      'rssi_dbm',
      'firmware',
      'from',
      'to',
    ],
    r.devices.map((d) => [
      d.device,
      d.kind,
      d.zone,
      Math.round(d.availabilityPercent * 100) / 100,
      minutes(d.downtimeMs),
      d.incidents,
      minutes(d.mttrMs),
      d.faults.map((f) => `${f.fault}×${f.count}`).join('; '),
      d.battery,
      d.rssi,
      d.fw,
      from,
      to,
    ]),
  );
}
