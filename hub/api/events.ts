// GET /api/v1/events: server-sent events of what reaches the journal — readings, heartbeats,
// presence — and alert transitions, optionally filtered by device, zone or metric. A stream ends
// when the token it was opened with is revoked, or, opened without one on an open hub, when the
// first token is created. Each event is encoded once for every stream that takes it, and at most
// limits.max_event_streams are open at once: a wall of floor pages costs the hub one encoding per
// reading, and a client opening streams without end is refused rather than served. One token
// holds at most limits.max_event_streams_per_token of them, so a single screen left
// reconnecting in a loop cannot take every floor page's place.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { METRICS, type Entry } from '../domain/reading.ts';
import type { LiveFeed } from '../feed/live-feed.ts';
import type { Credential, Revocations } from '../security/revocations.ts';
import { idParam, metricParam, textParam } from './params.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, refusal } from './schemas.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { AlertEvent } from '../domain/alert.ts';

const KEEPALIVE_MS = 15_000;
/** A client this far behind is skipped until it catches up, rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Refused streams are logged at most this often. */
const REFUSAL_LOG_EVERY_MS = 60_000;

export interface EventsRoutesOptions {
  feed: LiveFeed;
  revocations: Revocations;
  /** limits.max_event_streams */
  maxStreams: number;
  /** limits.max_event_streams_per_token */
  maxStreamsPerToken: number;
  metrics: Pick<Metrics, 'eventStreams'>;
  now: () => number;
}

export const eventsRoutes: FastifyPluginAsyncZod<EventsRoutesOptions> = async (
  app,
  { feed, revocations, maxStreams, maxStreamsPerToken, metrics, now },
) => {
  // An event's text, made by the first stream that sends it and shared by the others: the feed
  // hands every stream the same objects.
  const texts = new WeakMap<object, string>();
  const textOf = (event: string, key: object, data: () => unknown): string => {
    let text = texts.get(key);
    if (text === undefined) {
      text = `event: ${event}\ndata: ${JSON.stringify(data())}\n\n`;
      texts.set(key, text);
    }
    return text;
  };
  let refusedSinceLog = 0;
  let refusalLoggedAt = Number.NEGATIVE_INFINITY;
  /** Each open stream's end, with the token it was opened with (anonymous on an open hub). */
  const open = new Map<() => void, Credential | null>();
  /** Open streams by holder (holderOf), kept rather than counted at each open: limits.max_event_streams may be 100,000. */
  const held = new Map<string, number>();
  // Streams never end by themselves; the hub ends them when it stops, or when their credential is withdrawn.
  app.addHook('preClose', async () => {
    revocations.off('changed', endWithdrawn);
    for (const end of open.keys()) end();
  });
  const endWithdrawn = () => {
    for (const [end, credential] of open) {
      const withdrawal = credential && revocations.withdrawal(credential);
      if (!credential || !withdrawal) continue;
      end();
      revocations.closed('events', credential, withdrawal);
    }
  };
  revocations.on('changed', endWithdrawn);

  const stream =
    'A text/event-stream that stays open. Each event is "event: reading|heartbeat|status|alert" and "data:" with the JSON of the reading (with the unit of a known metric), heartbeat, ' +
    'presence change or alert transition ({event, at, notified, late, alert}); "event: skipped" with {events} tells how many a client too slow to read missed. ' +
    'Filters apply to readings; heartbeats, presence and alerts are left out when metric is given.';
  app.get(
    '/api/v1/events',
    {
      schema: {
        summary: 'Server-sent events: reading, heartbeat, status, alert',
        description: stream,
        querystring: z.object({
          device: idParam('device').optional().describe('only events of this device'),
          zone: idParam('zone').optional().describe('only events of devices in this zone'),
          metric: metricParam('metric').optional().describe('only readings of this metric'),
          // Read by the access check (security/api-access.ts) before this route; listed so it is described.
          access_token: textParam('access_token')
            .optional()
            .describe("the API token, for a browser's EventSource, which cannot send an Authorization header"),
        }),
        response: {
          200: { description: 'the stream of events', content: { 'text/event-stream': { schema: z.string() } } },
          400: BAD_REQUEST,
          503: refusal('as many live feeds are open as limits.max_event_streams allows'),
          ...ACCESS_REFUSALS,
          429: refusal(
            'as many live feeds are open with this token as limits.max_event_streams_per_token allows; or more requests a minute than limits.api_requests_per_minute',
          ),
        },
      },
    },
    (request, reply) => {
      const { device, zone, metric } = request.query;
      if (open.size >= maxStreams) {
        refusedSinceLog++;
        const at = now();
        if (at - refusalLoggedAt >= REFUSAL_LOG_EVERY_MS) {
          request.log.warn(
            { open: open.size, max: maxStreams, refused: refusedSinceLog },
            `${open.size} live feeds are open, the most limits.max_event_streams allows: ${refusedSinceLog} further one(s) refused; close floor pages left open, or raise the limit`,
          );
          refusalLoggedAt = at;
          refusedSinceLog = 0;
        }
        void reply.code(503).send({
          error: 'Service Unavailable',
          message: `${open.size} live feeds are open, the most limits.max_event_streams allows (${maxStreams}); close one, or raise the limit`,
        });
        return;
      }
      const holder = holderOf(request.credential);
      const holding = holder === undefined ? 0 : (held.get(holder) ?? 0);
      if (holding >= maxStreamsPerToken) {
        void reply.code(429).send({
          error: 'Too Many Requests',
          message: `${holding} live feeds are open with ${holder}, the most limits.max_event_streams_per_token allows; close one, or raise the limit`,
        });
        return;
      }
      if (holder !== undefined) held.set(holder, holding + 1);
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': connected\n\n');
      let skipped = 0;
      const send = (text: string) => {
        if (raw.writableLength > MAX_BUFFERED_BYTES) {
          skipped++;
          return;
        }
        if (skipped > 0) {
          raw.write(`event: skipped\ndata: ${JSON.stringify({ events: skipped })}\n\n`);
          skipped = 0;
        }
        raw.write(text);
      };
      const matches = (d: string, z: string) =>
        (device === undefined || d === device) && (zone === undefined || z === zone);
      const onEntries = (entries: readonly Entry[]) => {
        // One write to the socket for the batch, not one per event.
        raw.cork();
        for (const entry of entries) {
          if (entry.type === 'readings') {
            for (const r of entry.readings)
              if (matches(r.device, r.zone) && (metric === undefined || r.metric === metric)) {
                // With its unit, so a live view need not know the metrics to say what a value is.
                send(
                  textOf('reading', r, () => {
                    const spec = METRICS.get(r.metric);
                    return spec ? { ...r, unit: spec.unit } : r;
                  }),
                );
              }
          } else if (metric === undefined) {
            if (entry.type === 'heartbeat' && matches(entry.heartbeat.device, entry.heartbeat.zone))
              send(textOf('heartbeat', entry.heartbeat, () => entry.heartbeat));
            if (entry.type === 'status' && matches(entry.status.id, entry.status.zone))
              send(textOf('status', entry.status, () => entry.status));
          }
        }
        raw.uncork();
      };
      const onAlert = (e: AlertEvent) => {
        if (metric === undefined && matches(e.alert.subject, e.alert.zone))
          send(
            textOf('alert', e, () => ({
              event: e.kind,
              at: e.at,
              notified: e.notified,
              late: e.late === true,
              alert: e.alert,
            })),
          );
      };
      feed.on('entries', onEntries);
      feed.on('alert', onAlert);
      metrics.eventStreams.inc();
      const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
      const stop = () => {
        if (!open.delete(end)) return;
        if (holder !== undefined) {
          const left = (held.get(holder) ?? 1) - 1;
          if (left > 0) held.set(holder, left);
          else held.delete(holder);
        }
        clearInterval(keepalive);
        feed.off('entries', onEntries);
        feed.off('alert', onAlert);
        metrics.eventStreams.dec();
      };
      const end = () => {
        stop();
        raw.end();
      };
      open.set(end, request.credential);
      raw.on('close', stop);
      // Gone before it was counted: 'close' has come and gone.
      if (raw.destroyed) stop();
    },
  );
};

/**
 * Whose streams count together: a token's (a device's password opens no feed). None on a hub
 * without tokens, which answers only on its own machine: every feed there comes from one address.
 */
function holderOf(credential: Credential | null): string | undefined {
  return credential?.kind === 'token' ? `token ${credential.name}` : undefined;
}
