// GET /api/v1/rejections: what was refused, newest first, with the reason an operator can act on.
// Two stages refuse: ingest (a message or value that breaks the contract, "stage":"ingest") and,
// after the journal, the store (a reading the database refused for good, "stage":"store"), a
// journal consumer that gave up on an entry ("stage" is the consumer's name), or a receiver that
// refused an alert notification for good ("stage":"notify").
import type { FastifyPluginAsync } from 'fastify';
import { REJECTION_REASONS } from '../ingest/rejection.ts';
import type { RejectionLog } from '../ingest/rejections.ts';
import type { SetAsideLog } from '../journal/set-aside.ts';
import { parseChoice, parseLimit, single } from './params.ts';

const SET_ASIDE_REASONS = ['store_refused', 'consumer_failed', 'notification_refused'] as const;

export const rejectionsRoutes: FastifyPluginAsync<{ rejections: RejectionLog; setAside: SetAsideLog }> = async (app, { rejections, setAside }) => {
  app.get('/api/v1/rejections', { schema: { summary: 'Refused messages and values, and readings or entries set aside after the journal, newest first' } }, async (request) => {
    // Hostile device names are exactly what an operator looks for here, so no id grammar check.
    const device = single(request.query, 'device');
    const reason = parseChoice('reason', single(request.query, 'reason'), [...REJECTION_REASONS, ...SET_ASIDE_REASONS]);
    const stage = single(request.query, 'stage');
    const limit = parseLimit('limit', single(request.query, 'limit'), 100_000) ?? 100;
    const byDevice = device !== undefined ? { device } : {};
    const ingest =
      (stage === undefined || stage === 'ingest') && (reason === undefined || (REJECTION_REASONS as readonly string[]).includes(reason))
        ? rejections.list({ limit, ...byDevice, ...(reason !== undefined && { reason }) }).map((r) => ({ stage: 'ingest', ...r }))
        : [];
    const later =
      stage !== 'ingest' && (reason === undefined || (SET_ASIDE_REASONS as readonly string[]).includes(reason))
        ? setAside.list({ limit, ...byDevice, ...(stage !== undefined && { stage }) }).filter((r) => reason === undefined || r.reason === reason)
        : [];
    return {
      total: rejections.total + setAside.total,
      evicted: rejections.evicted + setAside.dropped,
      rejections: [...ingest, ...later].sort((a, b) => b.at - a.at).slice(0, limit),
    };
  });
};
