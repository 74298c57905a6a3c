// GET /api/v1/health: broker, store and journal in one answer. 503 when the hub cannot do its job
// (store down, journal cannot write); 200 "degraded" while a backlog drains.
import type { FastifyPluginAsync } from 'fastify';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  checks: Record<string, { ok: boolean; detail: string; [key: string]: unknown }>;
}

export const healthRoutes: FastifyPluginAsync<{ health: () => Promise<HealthReport> }> = async (app, { health }) => {
  app.get('/api/v1/health', { schema: { summary: 'Broker, store and journal health (503 when not healthy)' } }, async (_request, reply) => {
    const report = await health();
    if (report.status === 'down') reply.code(503);
    return report;
  });
};
