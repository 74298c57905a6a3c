// GET /api/v1/health: broker, store and journal in one answer. 503 when the hub cannot do its job
// (store down, journal cannot write); 200 "degraded" while a backlog drains. Public, for load
// balancers; but on a hub that needs tokens, a caller without one learns only the status: the
// checks name paths, versions, internal addresses and client counts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ACCESS_REFUSALS, schemaOf } from './schemas.ts';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  checks: Record<string, { ok: boolean; detail: string; [key: string]: unknown }>;
}

const report = schemaOf<{ status: HealthReport['status']; checks?: HealthReport['checks'] }>()(
  z.object({
    status: z.enum(['ok', 'degraded', 'down']),
    checks: z
      .record(z.string(), z.looseObject({ ok: z.boolean(), detail: z.string().describe('in words') }))
      .optional()
      .describe(
        'absent without a token on a hub that needs one. broker: clients, port, admission (overload, shedding, paused publishers); ' +
          'store: backend, downSince, lastWriteAt, refused, lastRefusal, minutesWaiting (1-minute aggregates not yet rolled up), minutesDropped; journal: backlog, durableLsn, consumers, segments, bytes; devices: known, max, refused',
      ),
  }),
);

export interface HealthRoutesOptions {
  health: () => Promise<HealthReport>;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { health }) => {
  app.get(
    '/api/v1/health',
    {
      schema: {
        summary:
          'Broker, store and journal health (503 when not healthy); without a token on a hub that needs one, the status only',
        response: {
          200: report.describe(
            'ok, or degraded: a backlog drains, the store refuses readings, devices are refused, or the hub is overloaded',
          ),
          503: report.describe('down: the store is down or the journal cannot write'),
          403: ACCESS_REFUSALS[403],
          421: ACCESS_REFUSALS[421],
          429: ACCESS_REFUSALS[429],
        },
      },
    },
    async (request, reply) => {
      const answer = await health();
      // No credential: neither a valid token nor a hub open to this caller.
      const shown = request.credential === null ? { status: answer.status } : answer;
      return answer.status === 'down' ? reply.code(503).send(shown) : shown;
    },
  );
};
