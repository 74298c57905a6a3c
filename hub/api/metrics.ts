// GET /metrics in the Prometheus text format.
import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../telemetry/metrics.ts';

export const metricsRoutes: FastifyPluginAsync<{ metrics: Metrics; refresh: () => void }> = async (app, { metrics, refresh }) => {
  app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_request, reply) => {
    refresh();
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
