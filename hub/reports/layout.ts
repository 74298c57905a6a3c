// A report as titled tables of text cells, so the command line and the printable HTML show the same
// thing in the same order. Pure.
import type { EquipmentFigures, EquipmentReport } from './equipment.ts';
import type { ShiftReport } from './shift.ts';
import { counted } from '../domain/counted.ts';

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  /** Shown when there are no rows. */
  empty: string;
}

export interface Layout {
  title: string;
  subtitle: string;
  tables: Table[];
  notes: string[];
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local time of the hub, to the minute. */
export function clock(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${pad(minutes % 60)} min`;
}

const n = (value: number | undefined, digits: number, unit: string) =>
  value === undefined ? '—' : `${value.toFixed(digits)}${unit}`;

export function shiftLayout(r: ShiftReport): Layout {
  const zoneName = (z: { zone: string; name?: string }) => (z.name ? `${z.name} (${z.zone})` : z.zone);
  return {
    title: `Shift handover ${clock(r.from)} – ${clock(r.to)}`,
    subtitle: `${duration(r.to - r.from)}, ${r.season} requirements. Alerts: ${r.alerts.fired} fired, ${r.alerts.acknowledged} acknowledged, ${r.alerts.open} still open.`,
    tables: [
      {
        title: 'Environment per zone',
        columns: [
          'zone',
          'open',
          'temperature min / mean / max',
          'humidity min / mean / max',
          'highest CO₂ 1-hour mean',
        ],
        rows: r.zones.map((z) => [
          zoneName(z),
          `${Math.round(z.openPercent)} % of the span; ${z.occupancyAtEnd === 'occupied' ? 'open' : 'closed'} now`,
          z.temperature
            ? `${n(z.temperature.min, 1, '')} / ${n(z.temperature.mean, 1, '')} / ${n(z.temperature.max, 1, ' °C')}`
            : '—',
          z.humidity
            ? `${n(z.humidity.min, 0, '')} / ${n(z.humidity.mean, 0, '')} / ${n(z.humidity.max, 0, ' %RH')}`
            : '—',
          z.co2MaxHourlyMean
            ? `${n(z.co2MaxHourlyMean.value, 0, ' ppm')} (hour from ${clock(z.co2MaxHourlyMean.hour).slice(11)})`
            : '—',
        ]),
        empty: 'no zones are configured',
      },
      {
        title: 'Time within requirements',
        columns: ['zone', 'requirement', 'within', 'readings'],
        rows: r.zones.flatMap((z) =>
          z.compliance.map((c) => [zoneName(z), c.title, n(c.percentWithin, 1, ' %'), String(c.readings)]),
        ),
        empty: 'no readings in this span',
      },
      {
        title: 'Noise per position',
        columns: ['position', 'zone', 'LAeq', 'LEX,8h', 'dose'],
        rows: r.positions.map((p) => [
          p.device,
          p.zone,
          n(p.laeq, 1, ' dB(A)'),
          n(p.lex8h, 1, ' dB(A)'),
          n(p.dosePercent, 0, ' %'),
        ]),
        empty: 'no noise readings in this span',
      },
      {
        title: 'Alerts',
        columns: ['alert', 'severity', 'fired', 'acknowledged', 'resolved', 'lasted', 'what'],
        rows: r.alerts.list.map((a) => [
          `#${a.alertId} ${a.key}`,
          a.severity,
          clock(a.firingAt),
          a.acknowledgedAt === undefined ? '—' : clock(a.acknowledgedAt),
          a.resolvedAt === undefined ? 'still open' : clock(a.resolvedAt),
          duration(a.durationMs),
          a.summary,
        ]),
        empty: 'no alerts',
      },
      {
        title: 'Devices that went offline',
        columns: ['device', 'zone', 'offline from', 'back', 'offline in this shift'],
        rows: r.offline.map((o) => [
          o.device,
          o.zone,
          clock(o.since),
          o.back === undefined ? 'still offline' : clock(o.back),
          duration(o.offlineMs),
        ]),
        empty: 'none',
      },
      {
        title: 'Acoustic incidents at headsets',
        columns: ['position', 'zone', 'at', 'peak'],
        rows: r.acoustic.map((a) => [
          a.device,
          a.zone,
          clock(a.at),
          a.levelDb === null ? 'level not kept' : `${Math.round(a.levelDb * 10) / 10} dB(C)`,
        ]),
        empty: 'none',
      },
      {
        title: 'Equipment faults',
        columns: ['device', 'zone', 'fault', 'severity', 'from', 'cleared', 'lasted'],
        rows: r.faults.map((f) => [
          f.device,
          f.zone,
          f.fault,
          f.severity,
          clock(f.since),
          f.cleared === undefined ? 'not cleared' : clock(f.cleared),
          duration(f.durationMs),
        ]),
        empty: 'none',
      },
    ],
    notes: r.notes,
  };
}

/** The equipment record: per kind, per device, and the faults that come back most. */
export function equipmentLayout(r: EquipmentReport): Layout {
  const figures = (f: EquipmentFigures) => [
    n(f.availabilityPercent, 2, ' %'),
    duration(f.downtimeMs),
    String(f.incidents),
    f.mttrMs === null ? '—' : duration(f.mttrMs),
  ];
  const faults = (f: EquipmentFigures) => f.faults.map((x) => `${x.fault} ×${x.count}`).join(', ') || '—';
  return {
    title: `Equipment record ${clock(r.from)} – ${clock(r.to)}`,
    subtitle: `${duration(r.to - r.from)}, ${counted(r.devices.length, 'device')}. A device is down while offline or in fault; degraded counts as an incident, not as downtime.`,
    tables: [
      {
        title: 'Per kind',
        columns: ['kind', 'devices', 'availability', 'downtime', 'incidents', 'mean time to repair', 'frequent faults'],
        rows: r.kinds.map((k) => [k.kind, String(k.devices), ...figures(k), faults(k)]),
        empty: 'no devices',
      },
      {
        title: 'Per device',
        columns: [
          'device',
          'kind',
          'zone',
          'availability',
          'downtime',
          'incidents',
          'mean time to repair',
          'faults',
          'battery',
          'signal',
          'firmware',
        ],
        rows: r.devices.map((d) => [
          d.device,
          d.kind,
          d.zone ?? '—',
          ...figures(d),
          faults(d),
          d.battery === null ? '—' : `${d.battery} %`,
          d.rssi === null ? '—' : `${d.rssi} dBm`,
          d.fw ?? '—',
        ]),
        empty: 'no devices',
      },
      {
        title: 'Most frequent faults',
        columns: ['fault', 'times'],
        rows: r.faults.map((f) => [f.fault, String(f.count)]),
        empty: 'none',
      },
    ],
    notes: r.notes,
  };
}

/** Plain text for a terminal or a printout. */
export function layoutText(l: Layout): string {
  const out = [l.title, l.subtitle];
  for (const t of l.tables) {
    out.push('', t.title);
    if (t.rows.length === 0) {
      out.push(`  ${t.empty}`);
      continue;
    }
    const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]) =>
      `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd();
    out.push(line(t.columns), ...t.rows.map(line));
  }
  out.push('', ...l.notes.map((note) => `Note: ${note}`));
  return `${out.join('\n')}\n`;
}
