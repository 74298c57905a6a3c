// GET /api/v1/rejections: what was refused, newest first, with the reason an operator can act on.
// Two stages refuse: ingest (a message or value that breaks the contract, "stage":"ingest") and,
// after the journal, the store (a reading the database refused for good, "stage":"store"), a
// journal consumer that gave up on an entry ("stage" is the consumer's name), or a receiver that
// refused an alert notification for good ("stage":"notify").
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { REJECTION_REASONS } from '../ingest/rejection.ts';
import type { RejectionLog, RejectionRecord } from '../ingest/rejections.ts';
import type { SetAsideLog, SetAsideRecord } from '../journal/set-aside.ts';
import { choiceParam, limitParam, textParam } from './params.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, schemaOf } from './schemas.ts';

const SET_ASIDE_REASONS = ['store_refused', 'consumer_failed', 'notification_refused'] as const;

const refusedInput = schemaOf<RejectionRecord & { stage: 'ingest' }>()(
  z.object({
    stage: z.literal('ingest'),
    at: z.number().describe('when it was refused, ms since 1970'),
    source: z.string().describe('mqtt, http or serial'),
    device: z.string().optional().describe('the device the message claimed to be from, as sent (even an invalid id)'),
    topic: z.string().optional(),
    reason: z.enum(REJECTION_REASONS),
    detail: z.string().describe('why, in words'),
    excerpt: z.string().describe('the start of the payload, as text'),
  }),
);

const setAside = schemaOf<SetAsideRecord>()(
  z.object({
    at: z.number().describe('when it was set aside, ms since 1970'),
    stage: z
      .string()
      .describe(
        'store for readings the store refused, notify for notifications a receiver refused; otherwise the journal consumer that gave up on an entry',
      ),
    reason: z.enum(SET_ASIDE_REASONS),
    detail: z.string().describe("the database's reason, or the consumer's error"),
    lsn: z.number().optional().describe('the journal entry a consumer gave up on'),
    device: z.string().optional(),
    metric: z.string().optional(),
    ts: z.number().optional().describe("the reading's time"),
    value: z.number().optional(),
    excerpt: z.string().optional().describe('the start of the entry or notification'),
  }),
);

export interface RejectionsRoutesOptions {
  rejections: RejectionLog;
  setAside: SetAsideLog;
}

export const rejectionsRoutes: FastifyPluginAsyncZod<RejectionsRoutesOptions> = async (
  app,
  { rejections, setAside: later },
) => {
  app.get(
    '/api/v1/rejections',
    {
      schema: {
        summary: 'Refused messages and values, and readings or entries set aside after the journal, newest first',
        querystring: z.object({
          // Hostile device names are exactly what an operator looks for here, so no id grammar check.
          device: textParam('device').optional().describe('the device as it was sent, valid id or not'),
          reason: choiceParam('reason', [...REJECTION_REASONS, ...SET_ASIDE_REASONS])
            .optional()
            .describe('only records of this reason'),
          stage: textParam('stage')
            .optional()
            .describe('ingest, store, notify, or the name of a journal consumer: rules, devices'),
          limit: limitParam('limit', 100_000).optional().describe('most records returned, 1 to 100000 (default 100)'),
        }),
        response: {
          200: z
            .object({
              total: z.number().describe('refusals since the start, and set-aside records ever'),
              evicted: z.number().describe('records no longer kept, to stay within the bounds'),
              rejections: z.array(z.discriminatedUnion('reason', [refusedInput, setAside])).describe('newest first'),
            })
            .describe('refused input and set-aside readings and entries'),
          400: BAD_REQUEST,
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request) => {
      const { device, reason, stage, limit = 100 } = request.query;
      const byDevice = device !== undefined ? { device } : {};
      const ingest =
        (stage === undefined || stage === 'ingest') &&
        (reason === undefined || (REJECTION_REASONS as readonly string[]).includes(reason))
          ? rejections
              .list({ limit, ...byDevice, ...(reason !== undefined && { reason }) })
              .map((r) => ({ stage: 'ingest' as const, ...r }))
          : [];
      const afterJournal =
        stage !== 'ingest' && (reason === undefined || (SET_ASIDE_REASONS as readonly string[]).includes(reason))
          ? later
              .list({ limit, ...byDevice, ...(stage !== undefined && { stage }) })
              .filter((r) => reason === undefined || r.reason === reason)
          : [];
      return {
        total: rejections.total + later.total,
        evicted: rejections.evicted + later.dropped,
        rejections: [...ingest, ...afterJournal].sort((a, b) => b.at - a.at).slice(0, limit),
      };
    },
  );
};
