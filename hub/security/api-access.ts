// Who may call the HTTP API. Every route is covered without doing anything itself: GET needs a
// viewer, anything that changes state an operator, and a route can ask for more (or less) with
// `config: { role: 'admin' }`. Before any of that, a web page from a foreign origin is turned
// away (origins.ts), and a request without a token is judged by tokenlessAccess (exposure.ts):
// open only on a loopback hub that never had a token, or with security.allow_anonymous. A route
// with `config: { role: 'ingest' }` (writing readings) is for devices and ingest tokens only
// (reading-writers.ts), and open without a login only where the API is, and while devices need no
// password either.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import { tokenlessAccess } from './exposure.ts';
import { originAllowed } from './origins.ts';
import { REQUEST_RATE_KEYS, RequestRate } from './rate.ts';
import { sourceOf } from './source-address.ts';
import { NoticeLog } from '../telemetry/notices.ts';
import type { ReadingWriter, ReadingWriters } from './reading-writers.ts';
import type { Credential } from './revocations.ts';
import { roleAllows, type ApiTokens, type Role } from './tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a route needs; 'public' for routes anyone may call. */
    role?: Role | 'public';
  }
  interface FastifyRequest {
    /** Who made the request, for the audit log: the token's name, or "anonymous" on an open hub. */
    actor: string;
    /** The token the request came with, or on an open hub none (anonymous); null on a public route called without a valid token. A stream held open ends when it is withdrawn. */
    credential: Credential | null;
    /** On a route that writes readings: who is writing, which decides for which devices. Null elsewhere. */
    writer: ReadingWriter | null;
  }
}

/** Open to anyone: health for load balancers, the API description, and MQTT over WebSocket, which the broker authenticates itself. */
const PUBLIC_ROUTES = [/^\/api\/v1\/health$/, /^\/docs(\/|$)/, /^\/mqtt$/];

/**
 * A browser's EventSource cannot send an Authorization header, so the live feed alone also takes
 * its token as `?access_token=` (RFC 6750 §2.3). Nowhere else: a token in a URL can end up in
 * history and proxy logs, and the feed only reads.
 */
const QUERY_TOKEN_ROUTE = '/api/v1/events';

function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined || request.routeOptions.url !== QUERY_TOKEN_ROUTE) return header;
  const token = (request.query as Record<string, unknown>).access_token;
  return typeof token === 'string' ? `Bearer ${token}` : undefined;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export interface ApiAccessOptions {
  tokens: ApiTokens;
  allowAnonymous: boolean;
  /** http.allowed_origins: web pages besides the hub's own that may use it from a browser. */
  allowedOrigins: readonly string[];
  writers: ReadingWriters;
  requestsPerMinute: number;
  now: () => number;
  https: boolean;
  log: Logger;
  metrics: Metrics;
}

export function requiredRole(request: FastifyRequest): Role | 'public' {
  const configured = request.routeOptions.config.role;
  if (configured !== undefined) return configured;
  const route = request.routeOptions.url;
  if (route !== undefined && PUBLIC_ROUTES.some((p) => p.test(route))) return 'public';
  return request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'operator';
}

type Status = 401 | 403 | 421 | 429 | 503;
const STATUS_NAMES: Record<Status, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

function refuse(request: FastifyRequest, reply: FastifyReply, status: Status, message: string, challenge?: string) {
  // A WebSocket upgrade refused here never reaches the WebSocket plugin, which would close its
  // socket; left open, a closed browser tab's socket would also hold up the hub's stop.
  if (request.headers.upgrade !== undefined) reply.raw.once('finish', () => request.raw.socket.destroy());
  if (challenge !== undefined) reply.header('www-authenticate', challenge);
  return reply.code(status).send({ error: STATUS_NAMES[status], message });
}

/** Refusals of a foreign page or Host name: counted each, logged at most this often per reason, since a page can retry in a loop. */
const LOG_EVERY_MS = 60_000;
type Turned = 'origin' | 'host';

/** Adds origin and Host checks, authentication, roles, rate limits and security headers to every route of the app. */
export function installApiAccess(app: FastifyInstance, options: ApiAccessOptions): void {
  const { tokens, writers } = options;
  const allowed = new Set(options.allowedOrigins);
  const scheme = options.https ? 'https' : 'http';
  const lastLogged = new Map<Turned, { at: number; suppressed: number }>();
  const turnAway = (reason: Turned, message: string) => {
    options.metrics.httpRefused.inc({ reason });
    const at = options.now();
    const last = lastLogged.get(reason);
    if (last && at - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    options.log.warn(
      { reason },
      `${message}${last && last.suppressed > 0 ? ` (${last.suppressed} more like it since the last such line)` : ''}`,
    );
    lastLogged.set(reason, { at, suppressed: 0 });
  };
  const notices = new NoticeLog(options.log, options.now);
  const full = (what: string) => () =>
    notices.once(
      `rate-keys:${what}`,
      `the API's rate limit keeps a window for ${REQUEST_RATE_KEYS} ${what} at most, and more than that made requests within a minute: the oldest are forgotten, so those may make more than limits.api_requests_per_minute`,
    );
  // An IPv6 host may take any address of its /64: counted as one, as logins are.
  const byAddress = new RequestRate(options.requestsPerMinute, options.now, full('addresses'));
  const byToken = new RequestRate(options.requestsPerMinute, options.now, full('tokens and devices'));
  app.decorateRequest('actor', 'anonymous');
  app.decorateRequest('credential', null);
  app.decorateRequest('writer', null);

  /** True (and the 429 sent) when this address or credential is over its rate. */
  const overRate = (
    request: FastifyRequest,
    reply: FastifyReply,
    rate: RequestRate,
    key: string,
    who: string,
  ): boolean => {
    const wait = rate.take(key);
    if (wait <= 0) return false;
    reply.header('retry-after', String(wait));
    void refuse(
      request,
      reply,
      429,
      `more than ${options.requestsPerMinute} requests a minute ${who}; try again in ${wait} s`,
    );
    return true;
  };

  /** Writing readings on a hub that is not open: a device for itself, an ingest token for devices without a password. */
  const admitWriter = async (request: FastifyRequest, reply: FastifyReply) => {
    const verdict = await writers.identify(request.headers.authorization);
    if ('status' in verdict) return refuse(request, reply, verdict.status, verdict.message, verdict.challenge);
    if (overRate(request, reply, byToken, verdict.rateKey, `as ${verdict.actor}`)) return reply;
    request.writer = verdict.writer;
    request.actor = verdict.actor;
    request.credential = verdict.credential;
    return undefined;
  };

  app.addHook('onRequest', async (request, reply) => {
    const { host, origin } = request.headers;
    // The query is left out: the live feed's may hold a token.
    const target = `${request.method} ${(request.url.split('?')[0] ?? '').slice(0, 200)}`;
    if (
      origin !== undefined &&
      !originAllowed({ origin, own: host === undefined ? undefined : `${scheme}://${host}`, allowed })
    ) {
      const page = JSON.stringify(origin.slice(0, 200));
      turnAway(
        'origin',
        `refused ${target} from a web page at ${page} (address ${request.ip}): only the hub's own pages${allowed.size > 0 ? ' and those under http.allowed_origins' : ''} may use it`,
      );
      return refuse(
        request,
        reply,
        403,
        `a web page from ${page} may not use this hub: only the hub's own pages and the origins listed under http.allowed_origins may (add it there if the page is yours)`,
      );
    }
    const standing = tokens.standing();
    const tokenless = tokenlessAccess({
      tokens: standing,
      allowAnonymous: options.allowAnonymous,
      address: request.ip,
      host,
    });
    const needed = requiredRole(request);
    if (tokenless.served && (needed !== 'ingest' || writers.openToTokenless())) {
      // Open only until the first token is created, which also ends a live feed opened now.
      request.credential = { kind: 'anonymous', openUntil: 'api_token', address: request.ip };
      if (needed === 'ingest') request.writer = { kind: 'anyone' };
      return;
    }
    if (!tokenless.served && tokenless.status === 421) {
      turnAway(
        'host',
        `refused ${target} from ${request.ip} addressed to ${JSON.stringify((host ?? '').slice(0, 100))}: a hub without API tokens answers only to localhost, 127.0.0.1 and [::1]`,
      );
      return refuse(request, reply, 421, tokenless.message);
    }
    if (overRate(request, reply, byAddress, sourceOf(request.ip), `from ${request.ip}`)) return reply;
    if (needed === 'ingest') return admitWriter(request, reply);
    const header = presentedToken(request);
    const match = header === undefined ? null : /^Bearer +(\S+)$/i.exec(header);
    const token = match?.[1] !== undefined ? tokens.find(match[1]) : undefined;
    if (!token) {
      // A public route answers anyway; health then tells only the status.
      if (needed === 'public') return;
      const invalid = header !== undefined;
      // With no live token at all, what to do next matters more than which token was wrong.
      const needsToken = tokenless.served ? 'this route needs an API token' : tokenless.message;
      return refuse(
        request,
        reply,
        401,
        invalid && standing === 'live'
          ? 'the API token was not recognised: it may have been revoked, or mistyped'
          : needsToken,
        `Bearer realm="floorwatch"${invalid ? ', error="invalid_token"' : ''}`,
      );
    }
    if (overRate(request, reply, byToken, token.name, `with token ${token.name}`)) return reply;
    if (needed !== 'public' && !roleAllows(token.role, needed))
      return refuse(
        request,
        reply,
        403,
        `token ${token.name} has the ${token.role} role; ${request.method} ${request.routeOptions.url ?? request.url} needs ${needed}`,
      );
    request.actor = token.name;
    request.credential = { kind: 'token', name: token.name, issuedAt: token.createdAt };
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
    if (options.https) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
}
