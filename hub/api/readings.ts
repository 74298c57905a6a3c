// GET /api/v1/readings: stored readings, raw or aggregated. POST /api/v1/readings: SenML into the
// same ingest → journal path as MQTT, from a device for itself or an ingest token for devices
// without a password (security/reading-writers.ts decides who may write for which device).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { METRICS } from '../domain/reading.ts';
import { MAX_PROBLEMS_TOLD, type Ingest, type IngestOutcome } from '../ingest/ingest.ts';
import type { ReadingWriters } from '../security/reading-writers.ts';
import { AGGREGATES, type ReadingQuery, type SeriesPoint, type StoreReader } from '../store/store.ts';
import {
  choiceParam,
  idParam,
  limitParam,
  metricParam,
  refuse,
  resolveTime,
  textParam,
  TIME_FORMS,
  windowParam,
} from './params.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, refusal, schemaOf, STORE_DOWN } from './schemas.ts';

export interface ReadingsRoutesOptions {
  store: StoreReader;
  ingest: Ingest;
  writers: ReadingWriters;
  maxPayloadBytes: number;
  now: () => number;
}

const MAX_WINDOWS = 100_000;
const MAX_POINTS = 100_000;
const DEFAULT_RANGE_MS = 3_600_000;

const point = schemaOf<SeriesPoint>()(
  z.object({
    ts: z
      .number()
      .describe("raw: the reading's time; per window: the window's start; over the range: the range's start (ms)"),
    value: z.number(),
    device: z.string().optional().describe('the device the point came from (raw points only)'),
    uncalibrated: z
      .number()
      .optional()
      .describe('the value as the sensor reported it, when a calibration offset made value (raw points only)'),
  }),
);

const readingsAnswer = schemaOf<ReadingQuery & { unit: string | null; points: SeriesPoint[] }>()(
  z
    .object({
      metric: z.string(),
      from: z.number().describe('start of the range, inclusive (ms)'),
      to: z.number().describe('end of the range, exclusive (ms)'),
      device: z.string().optional(),
      zone: z.string().optional(),
      every: z.number().optional().describe('window length (ms)'),
      agg: z.enum(AGGREGATES).optional(),
      limit: z.number().optional(),
      unit: z.string().nullable().describe("the metric's canonical unit; null for a metric the hub does not know"),
      points: z.array(point).describe('oldest first'),
    })
    .describe('the query as understood, and its points'),
);

/** One SenML record (RFC 8428) as the hub reads it, for the description only: ingest judges the bytes itself. */
const senmlRecord = z.object({
  bver: z.number().optional().describe('SenML version, 10 or lower'),
  bn: z
    .string()
    .optional()
    .describe('base name, such as "t-17/": the device is the part of the name before the last /'),
  bt: z.number().optional().describe('base time, s since 1970 (or relative, under 2^28)'),
  bu: z.string().optional().describe('base unit'),
  bv: z.number().optional().describe('base value, added to each v'),
  n: z.string().optional().describe('name: the metric, or "{deviceId}/{metric}"'),
  u: z.string().optional().describe('unit, such as Cel, %RH, ppm, dB(A)'),
  v: z.number().optional().describe('the value; the only kind of value taken'),
  t: z.number().optional().describe('time, s, added to the base time'),
});

/**
 * The raw body: ingest parses it with the same parser and limits as an MQTT payload, and keeps
 * what it refuses, with the reason, in the rejection log. Described as the SenML it should be.
 */
const senmlBody = z
  .custom<Buffer>((body) => Buffer.isBuffer(body), {
    error: 'send a SenML array as application/senml+json or application/json',
  })
  .meta({
    description: 'a SenML pack (RFC 8428)',
    ...z.toJSONSchema(z.array(senmlRecord), { target: 'openapi-3.0' }),
  });

const outcome = schemaOf<IngestOutcome>()(
  z.object({
    accepted: z.number().describe('values taken into the journal'),
    rejected: z.number().describe('values or records refused'),
    duplicates: z.number().describe('values the hub already had (the same seq, or the same metric at the same time)'),
    problems: z
      .array(z.object({ reason: z.string(), detail: z.string(), device: z.string().optional() }))
      .describe(`what was refused and why, the first ${MAX_PROBLEMS_TOLD} (also in GET /api/v1/rejections)`),
  }),
);

/**
 * Submissions waiting for the journal at most: each holds its body (up to ingest.max_payload_bytes)
 * while a slow disk syncs, and senders on HTTP are not held back by the broker's read budget.
 */
export const MAX_WAITING_SUBMISSIONS = 256;

export const readingsRoutes: FastifyPluginAsyncZod<ReadingsRoutesOptions> = async (app, options) => {
  const { store, ingest, writers, now } = options;
  let waiting = 0;

  const readingsQuery = z
    .object({
      device: idParam('device').optional().describe('a device id (give device or zone)'),
      zone: idParam('zone').optional().describe('a zone id (give device or zone)'),
      metric: metricParam('metric', 'metric is required, e.g. metric=temperature').describe(
        'e.g. temperature, humidity, co2, noise',
      ),
      from: textParam('from').optional().describe(`start of the range: ${TIME_FORMS} (default: an hour before to)`),
      to: textParam('to').optional().describe('end of the range, as from (default now)'),
      every: windowParam('every')
        .optional()
        .describe('with agg, one point per window of this length, such as 1m or 15m (1s to 366d)'),
      agg: choiceParam('agg', AGGREGATES)
        .optional()
        .describe('mean, min, max, last or laeq (the energy average of decibels); without every, over the whole range'),
      limit: limitParam('limit', MAX_POINTS)
        .optional()
        .describe(`most raw points returned, 1 to ${MAX_POINTS} (default ${MAX_POINTS}); the newest are kept`),
    })
    // Said even when another parameter is wrong too (`when`): it only asks which of the two were given.
    .superRefine(
      (q, ctx) => {
        if ((q.device === undefined) === (q.zone === undefined))
          ctx.addIssue({ code: 'custom', message: 'give exactly one of device or zone' });
      },
      { when: () => true },
    )
    .transform((q, ctx): ReadingQuery => {
      // One clock reading for both times, so "from=-1h&to=-1h" is the empty range it looks like.
      const at = now();
      const to = resolveTime(ctx, 'to', q.to, at, at);
      const from = resolveTime(ctx, 'from', q.from, at, (to ?? at) - DEFAULT_RANGE_MS);
      if (from === undefined || to === undefined) return z.NEVER;
      if (from >= to)
        return refuse(ctx, `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
      const { every, agg } = q;
      if (every !== undefined && agg === undefined)
        return refuse(ctx, 'every needs agg (mean, min, max, last or laeq)');
      if (every !== undefined && (to - from) / every.ms > MAX_WINDOWS)
        return refuse(
          ctx,
          `every=${every.text} makes more than ${MAX_WINDOWS} windows over this range: use a longer window`,
        );
      return {
        metric: q.metric,
        from,
        to,
        ...(q.device !== undefined && { device: q.device }),
        ...(q.zone !== undefined && { zone: q.zone }),
        ...(every !== undefined && { every: every.ms }),
        ...(agg !== undefined && { agg }),
        // Raw points are never read without a bound: a year of a sensor a second is 31 million.
        ...(agg === undefined && { limit: q.limit ?? MAX_POINTS }),
      };
    });

  app.get(
    '/api/v1/readings',
    {
      schema: {
        summary: 'Stored readings, raw or aggregated',
        querystring: readingsQuery,
        response: {
          200: readingsAnswer,
          400: BAD_REQUEST,
          ...ACCESS_REFUSALS,
          503: STORE_DOWN,
        },
      },
    },
    async (request) => {
      const query = request.query;
      const points = await store.query(query);
      return { ...query, unit: METRICS.get(query.metric)?.unit ?? null, points };
    },
  );

  // Raw bytes, so the body goes through the same parser and limits as an MQTT payload.
  app.addContentTypeParser(
    ['application/json', 'application/senml+json'],
    { parseAs: 'buffer', bodyLimit: options.maxPayloadBytes },
    (_req, body, done) => done(null, body),
  );

  const postSummary =
    'Submit readings as SenML (RFC 8428); names are "{deviceId}/{metric}". A device logs in with HTTP Basic (its id and MQTT password) and sends only its own; a token of the ingest role sends for devices without a password';
  app.post(
    '/api/v1/readings',
    {
      config: { role: 'ingest' },
      schema: {
        summary: postSummary,
        consumes: ['application/senml+json', 'application/json'],
        body: senmlBody,
        response: {
          200: outcome.describe('taken, at least in part: what was accepted, refused and already known'),
          400: z
            .union([outcome, BAD_REQUEST])
            .describe('nothing taken: every value was refused, each with its reason; or the body is not SenML'),
          401: ACCESS_REFUSALS[401],
          403: z
            .union([outcome, ACCESS_REFUSALS[403]])
            .describe('the sender may not speak for the devices named, or may not write readings at all'),
          413: refusal(`the body is larger than ingest.max_payload_bytes (${options.maxPayloadBytes} bytes)`),
          415: refusal('the body is neither application/senml+json nor application/json'),
          421: ACCESS_REFUSALS[421],
          429: ACCESS_REFUSALS[429],
          503: refusal(
            `the journal cannot take readings now (the disk is full or failing, or ${MAX_WAITING_SUBMISSIONS} submissions already wait for it): nothing was acknowledged; send again later`,
          ),
        },
      },
    },
    async (request, reply) => {
      const { writer } = request;
      // The access hook always decides who writes; without it nothing is written.
      if (!writer) throw new Error('no reading writer was identified for this request');
      if (waiting >= MAX_WAITING_SUBMISSIONS)
        return reply
          .code(503)
          .header('retry-after', '1')
          .send({
            error: 'Service Unavailable',
            message: `readings not accepted: ${MAX_WAITING_SUBMISSIONS} submissions already wait for the journal to write them; send again shortly`,
          });
      const receivedAt = now();
      let result;
      waiting++;
      try {
        result = await ingest.accept({
          source: 'http',
          kind: 'telemetry',
          payload: request.body,
          receivedAt,
          // A device's records without a name are its own, and names of other devices are refused.
          ...(writer.kind === 'device' && { device: writer.id }),
          ...(writer.kind === 'ingest' && { refuseDevice: (device: string) => writers.refusal(writer, device) }),
        });
      } catch (err) {
        return await reply
          .code(503)
          .send({ error: 'Service Unavailable', message: `readings not accepted: ${(err as Error).message}` });
      } finally {
        waiting--;
      }
      // Nothing taken, and only because the sender may not speak for those devices: forbidden, not malformed.
      if (result.accepted === 0 && result.rejected > 0)
        return reply.code(result.problems.every((p) => p.reason === 'device_mismatch') ? 403 : 400).send(result);
      return result;
    },
  );
};
