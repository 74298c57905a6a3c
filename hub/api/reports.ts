// Reports for people who hand over a shift or plan maintenance:
//   GET /api/v1/reports/shift?from=&to=[&format=json|html]   JSON, or printable HTML (also for Accept: text/html)
//   GET /api/v1/reports/equipment?from=&to=                  availability, incidents, MTTR, faults
// Without from and to, the shift report covers the current shift so far and the equipment report the last 30 days.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { DeviceView } from '../devices/registry.ts';
import { shiftAt } from '../rules/exposure.ts';
import type { SiteRules } from '../rules/site.ts';
import type { StoreReader } from '../store/store.ts';
import { equipmentReport } from '../reports/equipment.ts';
import { layoutHtml } from '../reports/html.ts';
import { shiftLayout } from '../reports/layout.ts';
import { alertHistory, shiftReport } from '../reports/shift.ts';
import { BadRequest, parseChoice, parseTime, single } from './params.ts';

export interface ReportsRoutesOptions {
  store: StoreReader;
  /** The effective rules at a moment (the season can depend on it). */
  rules: (at: number) => SiteRules;
  /** Shift start times, minutes after local midnight. */
  shifts: readonly number[];
  /** Declared and reporting devices. */
  devices: (now: number) => DeviceView[];
  now: () => number;
}

const DAY = 86_400_000;
const MAX_SHIFT_SPAN = 7 * DAY;
const MAX_EQUIPMENT_SPAN = 366 * DAY;

function span(request: FastifyRequest, now: number, defaultFrom: number, maxMs: number): { from: number; to: number } {
  const to = parseTime('to', single(request.query, 'to'), now, now);
  const from = parseTime('from', single(request.query, 'from'), now, defaultFrom);
  if (from >= to) throw new BadRequest(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  if (to - from > maxMs) throw new BadRequest(`a report covers at most ${maxMs / DAY} days; from and to are ${Math.ceil((to - from) / DAY)} days apart`);
  return { from, to };
}

function wantsHtml(request: FastifyRequest): boolean {
  const format = parseChoice('format', single(request.query, 'format'), ['json', 'html'] as const);
  if (format !== undefined) return format === 'html';
  const accept = request.headers.accept ?? '';
  return accept.includes('text/html') && !accept.includes('application/json');
}

export const reportsRoutes: FastifyPluginAsync<ReportsRoutesOptions> = async (app, { store, rules, shifts, devices, now }) => {
  app.get('/api/v1/reports/shift', { schema: { summary: 'Shift handover: environment per zone, noise per position, time within requirements, alerts, offline devices, faults (JSON or HTML)' } }, async (request, reply: FastifyReply) => {
    const at = now();
    const html = wantsHtml(request);
    const { from, to } = span(request, at, shiftAt(at, shifts).start, MAX_SHIFT_SPAN);
    const report = await shiftReport(store, rules(from), from, to);
    if (!html) return report;
    reply.type('text/html; charset=utf-8');
    return layoutHtml(shiftLayout(report));
  });

  app.get('/api/v1/reports/equipment', { schema: { summary: 'Equipment record: availability, incidents, mean time to repair and most frequent faults per device and per kind' } }, async (request) => {
    const at = now();
    const { from, to } = span(request, at, at - 30 * DAY, MAX_EQUIPMENT_SPAN);
    const known = devices(at).map((d) => ({ id: d.id, kind: d.kind, zone: d.zone }));
    return equipmentReport(await alertHistory(store, from, to), known, from, to);
  });
};
