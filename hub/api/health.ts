// GET /api/v1/health: broker, store and journal in one answer. 503 when the hub cannot do its job
// (store down, journal cannot write); 200 "degraded" while a backlog drains. Public, for load
// balancers; but on a hub that needs tokens, a caller without one learns only the status: the
// checks name paths, versions, internal addresses and client counts.
import type { FastifyPluginAsync } from 'fastify';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  checks: Record<string, { ok: boolean; detail: string; [key: string]: unknown }>;
}

export const healthRoutes: FastifyPluginAsync<{ health: () => Promise<HealthReport> }> = async (app, { health }) => {
  app.get('/api/v1/health', { schema: { summary: 'Broker, store and journal health (503 when not healthy); without a token on a hub that needs one, the status only' } }, async (request, reply) => {
    const report = await health();
    if (report.status === 'down') reply.code(503);
    // No credential: neither a valid token nor a hub open to this caller.
    return request.credential === null ? { status: report.status } : report;
  });
};
