// GET /api/v1/readings: stored readings, raw or aggregated. POST /api/v1/readings: SenML into the
// same ingest → journal path as MQTT, from a device for itself or an ingest token for devices
// without a password (security/reading-writers.ts decides who may write for which device).
import type { FastifyPluginAsync } from 'fastify';
import { METRICS } from '../domain/reading.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { ReadingWriters } from '../security/reading-writers.ts';
import { AGGREGATES, type ReadingQuery, type StoreReader } from '../store/store.ts';
import { BadRequest, parseChoice, parseId, parseLimit, parseMetric, parseTime, parseWindow, single } from './params.ts';

export interface ReadingsRoutesOptions {
  store: StoreReader;
  ingest: Ingest;
  writers: ReadingWriters;
  maxPayloadBytes: number;
  now: () => number;
}

const MAX_WINDOWS = 100_000;
const DEFAULT_RANGE_MS = 3_600_000;

const readingsQuerySchema = {
  type: 'object',
  properties: {
    device: { type: 'string', description: 'device id (or zone)' },
    zone: { type: 'string', description: 'zone id (or device)' },
    metric: { type: 'string', description: 'e.g. temperature, humidity, co2, noise' },
    from: { type: 'string', description: 'ms since 1970, ISO 8601, or relative such as -1h (default -1h)' },
    to: { type: 'string', description: 'as from (default now)' },
    every: { type: 'string', description: 'window such as 1m or 15m (with agg)' },
    agg: { type: 'string', description: 'mean, min, max, last or laeq (the energy average of decibels)' },
    limit: { type: 'string', description: 'most raw points returned, newest kept' },
  },
  required: ['metric'],
} as const;

export const readingsRoutes: FastifyPluginAsync<ReadingsRoutesOptions> = async (app, options) => {
  const { store, ingest, writers, now } = options;

  app.get('/api/v1/readings', { schema: { summary: 'Stored readings, raw or aggregated', querystring: readingsQuerySchema } }, async (request) => {
    const q = request.query;
    const device = parseId('device', single(q, 'device'));
    const zone = parseId('zone', single(q, 'zone'));
    if ((device === undefined) === (zone === undefined)) throw new BadRequest('give exactly one of device or zone');
    const metric = parseMetric('metric', single(q, 'metric'));
    if (metric === undefined) throw new BadRequest('metric is required, e.g. metric=temperature');
    const at = now();
    const to = parseTime('to', single(q, 'to'), at, at);
    const from = parseTime('from', single(q, 'from'), at, to - DEFAULT_RANGE_MS);
    if (from >= to) throw new BadRequest(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
    const every = parseWindow('every', single(q, 'every'));
    const agg = parseChoice('agg', single(q, 'agg'), AGGREGATES);
    if (every !== undefined && agg === undefined) throw new BadRequest('every needs agg (mean, min, max, last or laeq)');
    if (every !== undefined && (to - from) / every > MAX_WINDOWS) throw new BadRequest(`every=${single(q, 'every')} makes more than ${MAX_WINDOWS} windows over this range: use a longer window`);
    const limit = parseLimit('limit', single(q, 'limit'), 100_000);
    const query: ReadingQuery = {
      metric,
      from,
      to,
      ...(device !== undefined && { device }),
      ...(zone !== undefined && { zone }),
      ...(every !== undefined && { every }),
      ...(agg !== undefined && { agg }),
      ...(limit !== undefined && { limit }),
    };
    const points = await store.query(query);
    return { ...query, unit: METRICS.get(metric)?.unit ?? null, points };
  });

  // Raw bytes, so the body goes through the same parser and limits as an MQTT payload.
  app.addContentTypeParser(['application/json', 'application/senml+json'], { parseAs: 'buffer', bodyLimit: options.maxPayloadBytes }, (_req, body, done) => done(null, body));

  const postSummary = 'Submit readings as SenML (RFC 8428); names are "{deviceId}/{metric}". A device logs in with HTTP Basic (its id and MQTT password) and sends only its own; a token of the ingest role sends for devices without a password';
  app.post('/api/v1/readings', { config: { role: 'ingest' }, schema: { summary: postSummary } }, async (request, reply) => {
    const { writer } = request;
    // The access hook always decides who writes; without it nothing is written.
    if (!writer) throw new Error('no reading writer was identified for this request');
    if (!Buffer.isBuffer(request.body)) throw new BadRequest('send a SenML array as application/senml+json or application/json');
    const receivedAt = now();
    let outcome;
    try {
      outcome = await ingest.accept({
        source: 'http',
        kind: 'telemetry',
        payload: request.body,
        receivedAt,
        // A device's records without a name are its own, and names of other devices are refused.
        ...(writer.kind === 'device' && { device: writer.id }),
        ...(writer.kind === 'ingest' && { refuseDevice: (device: string) => writers.refusal(writer, device) }),
      });
    } catch (err) {
      reply.code(503);
      return { error: 'Service Unavailable', message: `readings not accepted: ${(err as Error).message}` };
    }
    // Nothing taken, and only because the sender may not speak for those devices: forbidden, not malformed.
    if (outcome.accepted === 0 && outcome.rejected > 0) reply.code(outcome.problems.every((p) => p.reason === 'device_mismatch') ? 403 : 400);
    return outcome;
  });
};
