// Reports for people who hand over a shift or plan maintenance:
//   GET /api/v1/reports/shift?from=&to=[&format=json|html]   JSON, or printable HTML (also for Accept: text/html)
//   GET /api/v1/reports/equipment?from=&to=[&format=json|html|csv]   availability, incidents, MTTR, faults;
//                                                            CSV for a spreadsheet or a maintenance system
// Without from and to, the shift report covers the current shift so far and the equipment report the last 30 days.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DeviceView } from '../devices/registry.ts';
import { shiftAt } from '../rules/exposure.ts';
import type { SiteRules } from '../rules/site.ts';
import type { StoreReader } from '../store/store.ts';
import { equipmentReport } from '../reports/equipment.ts';
import { layoutHtml } from '../reports/html.ts';
import { equipmentCsv } from '../reports/csv.ts';
import { equipmentLayout, shiftLayout } from '../reports/layout.ts';
import { alertHistory, shiftReport } from '../reports/shift.ts';
import { choiceParam, refuse, resolveTime, textParam, TIME_FORMS } from './params.ts';
import { equipmentReportSchema, shiftReportSchema } from './report-schemas.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, refusal } from './schemas.ts';
import { ReadsUnavailable } from './store-outage.ts';
import { counted } from '../domain/counted.ts';
import { Turns } from '../domain/turns.ts';
import { NoticeLog } from '../telemetry/notices.ts';

export interface ReportsRoutesOptions {
  store: StoreReader;
  /** The effective rules at a moment (the season can depend on it). */
  rules: (at: number) => SiteRules;
  /** Shift start times, minutes after local midnight. */
  /** Where shifts start, in minutes of the day: as the configuration says now. */
  shifts: () => readonly number[];
  /** Declared and reporting devices. */
  devices: (now: number) => DeviceView[];
  /** Reports prepared at once (limits.reports_at_once), and requests that may wait for a turn (limits.reports_waiting). */
  atOnce: number;
  waiting: number;
  /** The store's raw retention (storage.raw_retention): before it, reports read minutes. */
  rawRetentionMs: number;
  now: () => number;
}

const DAY = 86_400_000;
const REPORT_UNAVAILABLE = refusal(
  'the reading store is down (nothing is lost, and the message says how many journal entries wait to be stored), or as many reports as limits.reports_waiting already wait for their turn',
);
const MAX_SHIFT_SPAN = 7 * DAY;
const MAX_EQUIPMENT_SPAN = 366 * DAY;

export const reportsRoutes: FastifyPluginAsyncZod<ReportsRoutesOptions> = async (
  app,
  { store, rules, shifts, devices, atOnce, waiting, rawRetentionMs, now },
) => {
  // A report may read a week of readings: however many people ask at once, only so many are prepared together.
  const turns = new Turns(atOnce, waiting);
  const refusals = new NoticeLog(app.log, now);
  const inTurn = <T>(request: FastifyRequest, work: () => Promise<T>): Promise<T> =>
    turns.run(
      // A request whose client left while it waited is not prepared.
      () => (request.raw.socket.destroyed ? Promise.reject(new Error('the client has gone')) : work()),
      () => {
        const busy = `${counted(atOnce, 'report is', 'reports are')} being prepared and ${counted(waiting, 'more waits', 'more wait')} for a turn (limits.reports_at_once, limits.reports_waiting)`;
        refusals.once('reports busy', `reports refused: ${busy}`);
        throw new ReadsUnavailable(`${busy}; try again shortly`);
      },
    );

  const times = (fromText: string) => ({
    from: textParam('from').optional().describe(`${fromText}: ${TIME_FORMS}`),
    to: textParam('to').optional().describe('end of the report, as from (default now)'),
  });

  /** from and to, resolved against one reading of the clock, at most `maxMs` apart; undefined, with the problem in `ctx`, otherwise. */
  const span = (
    q: { from?: string | undefined; to?: string | undefined },
    ctx: z.RefinementCtx,
    defaultFrom: (at: number) => number,
    maxMs: number,
  ) => {
    const at = now();
    const to = resolveTime(ctx, 'to', q.to, at, at);
    const from = resolveTime(ctx, 'from', q.from, at, defaultFrom(at));
    if (from === undefined || to === undefined) return undefined;
    if (from >= to)
      return refuse(ctx, `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
    if (to - from > maxMs)
      return refuse(
        ctx,
        `a report covers at most ${maxMs / DAY} days; from and to are ${Math.ceil((to - from) / DAY)} days apart`,
      );
    return { from, to };
  };

  const shiftQuery = z
    .object({
      ...times('start of the report (default: the start of the current shift)'),
      format: choiceParam('format', ['json', 'html'])
        .optional()
        .describe('json or html (printable); without it, HTML for Accept: text/html'),
    })
    .transform((q, ctx) => {
      const covered = span(q, ctx, (at) => shiftAt(at, shifts()).start, MAX_SHIFT_SPAN);
      return covered === undefined ? z.NEVER : { ...covered, format: q.format };
    });

  const equipmentQuery = z
    .object({
      ...times('start of the record (default: 30 days ago)'),
      format: choiceParam('format', ['json', 'html', 'csv'])
        .optional()
        .describe('json, html (printable) or csv (one row per device); without it, HTML for Accept: text/html'),
    })
    .transform((q, ctx) => {
      const covered = span(q, ctx, (at) => at - 30 * DAY, MAX_EQUIPMENT_SPAN);
      return covered === undefined ? z.NEVER : { ...covered, format: q.format };
    });

  /** The format asked for, or the one the Accept header prefers. */
  const formatOf = (format: string | undefined, accept = ''): string =>
    format ?? (accept.includes('text/html') && !accept.includes('application/json') ? 'html' : 'json');

  app.get(
    '/api/v1/reports/shift',
    {
      schema: {
        summary:
          'Shift handover: environment per zone, noise per position, time within requirements, alerts, offline devices, faults (JSON or HTML)',
        querystring: shiftQuery,
        response: {
          200: {
            description: 'the handover, as JSON or as a printable HTML page',
            content: { 'application/json': { schema: shiftReportSchema }, 'text/html': { schema: z.string() } },
          },
          400: BAD_REQUEST,
          ...ACCESS_REFUSALS,
          503: REPORT_UNAVAILABLE,
        },
      },
    },
    async (request, reply) => {
      const { from, to, format } = request.query;
      const report = await inTurn(request, () => shiftReport(store, rules, from, to, now() - rawRetentionMs));
      if (formatOf(format, request.headers.accept) !== 'html') return report;
      return reply.type('text/html; charset=utf-8').send(layoutHtml(shiftLayout(report)));
    },
  );

  app.get(
    '/api/v1/reports/equipment',
    {
      schema: {
        summary:
          'Equipment record: availability, incidents, mean time to repair and most frequent faults per device and per kind (JSON, HTML or CSV)',
        querystring: equipmentQuery,
        response: {
          200: {
            description: 'the equipment record, as JSON, a printable HTML page or CSV',
            content: {
              'application/json': { schema: equipmentReportSchema },
              'text/html': { schema: z.string() },
              'text/csv': { schema: z.string() },
            },
          },
          400: BAD_REQUEST,
          ...ACCESS_REFUSALS,
          503: REPORT_UNAVAILABLE,
        },
      },
    },
    async (request, reply) => {
      const { from, to, format } = request.query;
      const known = devices(now()).map((d) => ({
        id: d.id,
        kind: d.kind,
        zone: d.zone,
        battery: d.battery,
        rssi: d.rssi,
        fw: d.fw,
      }));
      const report = await inTurn(request, async () =>
        equipmentReport(await alertHistory(store, from, to), known, from, to),
      );
      const as = formatOf(format, request.headers.accept);
      if (as === 'html') return reply.type('text/html; charset=utf-8').send(layoutHtml(equipmentLayout(report)));
      if (as === 'csv')
        return reply
          .type('text/csv; charset=utf-8')
          .header(
            'content-disposition',
            `attachment; filename="equipment-${new Date(from).toISOString().slice(0, 10)}-${new Date(to).toISOString().slice(0, 10)}.csv"`,
          )
          .send(equipmentCsv(report));
      return report;
    },
  );
};
