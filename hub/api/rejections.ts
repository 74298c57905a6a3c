// GET /api/v1/rejections: what was refused, newest first, with the reason an operator can act on.
import type { FastifyPluginAsync } from 'fastify';
import { REJECTION_REASONS } from '../ingest/rejection.ts';
import type { RejectionLog } from '../ingest/rejections.ts';
import { parseChoice, parseLimit, single } from './params.ts';

export const rejectionsRoutes: FastifyPluginAsync<{ rejections: RejectionLog }> = async (app, { rejections }) => {
  app.get('/api/v1/rejections', { schema: { summary: 'Refused messages and values, newest first' } }, async (request) => {
    // Hostile device names are exactly what an operator looks for here, so no id grammar check.
    const device = single(request.query, 'device');
    const reason = parseChoice('reason', single(request.query, 'reason'), REJECTION_REASONS);
    const limit = parseLimit('limit', single(request.query, 'limit'), 100_000) ?? 100;
    return {
      total: rejections.total,
      evicted: rejections.evicted,
      rejections: rejections.list({ limit, ...(device !== undefined && { device }), ...(reason !== undefined && { reason }) }),
    };
  });
};
