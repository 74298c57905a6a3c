// GET /metrics in the Prometheus text format.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from '../telemetry/metrics.ts';
import { ACCESS_REFUSALS } from './schemas.ts';

export interface MetricsRoutesOptions {
  metrics: Metrics;
  /** Brings the gauges read at a scrape up to date. */
  refresh: () => void;
}

export const metricsRoutes: FastifyPluginAsyncZod<MetricsRoutesOptions> = async (app, { metrics, refresh }) => {
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        response: {
          200: {
            description: 'the Prometheus text exposition format',
            content: { 'text/plain': { schema: z.string() } },
          },
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (_request, reply) => {
      refresh();
      return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
};
