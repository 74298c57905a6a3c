// Who may call the HTTP API. Every route is covered without doing anything itself: GET needs a
// viewer, anything that changes state an operator, and a route can ask for more (or less) with
// `config: { role: 'admin' }`. With no API token on record the API is open, which the exposure
// check allows only on a loopback bind; once any token exists every request needs one. A route with
// `config: { role: 'ingest' }` (writing readings) is for devices and ingest tokens only
// (reading-writers.ts), and is open only while devices need no password either.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RequestRate } from './rate.ts';
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
    /** The token the request came with, or on an open hub none (anonymous); null on a public route. A stream held open ends when it is withdrawn. */
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
  writers: ReadingWriters;
  requestsPerMinute: number;
  now: () => number;
  https: boolean;
}

export function requiredRole(request: FastifyRequest): Role | 'public' {
  const configured = request.routeOptions.config.role;
  if (configured !== undefined) return configured;
  const route = request.routeOptions.url;
  if (route !== undefined && PUBLIC_ROUTES.some((p) => p.test(route))) return 'public';
  return request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'operator';
}

function refuse(reply: FastifyReply, status: 401 | 403 | 429, message: string, challenge?: string) {
  if (challenge !== undefined) reply.header('www-authenticate', challenge);
  const error = { 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests' }[status];
  return reply.code(status).send({ error, message });
}

/** Adds authentication, roles, rate limits and security headers to every route of the app. */
export function installApiAccess(app: FastifyInstance, options: ApiAccessOptions): void {
  const { tokens, writers } = options;
  const byAddress = new RequestRate(options.requestsPerMinute, options.now);
  const byToken = new RequestRate(options.requestsPerMinute, options.now);
  app.decorateRequest('actor', 'anonymous');
  app.decorateRequest('credential', null);
  app.decorateRequest('writer', null);

  /** True (and the 429 sent) when this address or credential is over its rate. */
  const overRate = (reply: FastifyReply, rate: RequestRate, key: string, who: string): boolean => {
    const wait = rate.take(key);
    if (wait <= 0) return false;
    reply.header('retry-after', String(wait));
    void refuse(reply, 429, `more than ${options.requestsPerMinute} requests a minute ${who}; try again in ${wait} s`);
    return true;
  };

  /** Writing readings: a device for itself, an ingest token for devices without a password, anyone on an open hub. */
  const admitWriter = async (request: FastifyRequest, reply: FastifyReply) => {
    if (writers.open()) {
      request.writer = { kind: 'anyone' };
      request.credential = { kind: 'anonymous', openUntil: 'api_token', address: request.ip };
      return;
    }
    if (overRate(reply, byAddress, request.ip, `from ${request.ip}`)) return reply;
    const verdict = await writers.identify(request.headers.authorization);
    if ('status' in verdict) return refuse(reply, verdict.status, verdict.message, verdict.challenge);
    if (overRate(reply, byToken, verdict.rateKey, `as ${verdict.actor}`)) return reply;
    request.writer = verdict.writer;
    request.actor = verdict.actor;
    request.credential = verdict.credential;
    return undefined;
  };

  app.addHook('onRequest', async (request, reply) => {
    const needed = requiredRole(request);
    if (needed === 'ingest') return admitWriter(request, reply);
    if (!tokens.any()) {
      // Open only until the first token is created, which also ends a live feed opened now.
      request.credential = { kind: 'anonymous', openUntil: 'api_token', address: request.ip };
      return;
    }
    if (overRate(reply, byAddress, request.ip, `from ${request.ip}`)) return reply;
    if (needed === 'public') return;
    const header = presentedToken(request);
    if (header === undefined) {
      return refuse(reply, 401, 'this hub needs an API token: send "Authorization: Bearer <token>" (an administrator creates one with: npm run floorwatch -- tokens create <name> --role viewer)', 'Bearer realm="floorwatch"');
    }
    const match = /^Bearer +(\S+)$/i.exec(header);
    const token = match?.[1] !== undefined ? tokens.find(match[1]) : undefined;
    if (!token) return refuse(reply, 401, 'the API token was not recognised: it may have been revoked, or mistyped', 'Bearer realm="floorwatch", error="invalid_token"');
    if (overRate(reply, byToken, token.name, `with token ${token.name}`)) return reply;
    if (!roleAllows(token.role, needed)) return refuse(reply, 403, `token ${token.name} has the ${token.role} role; ${request.method} ${request.routeOptions.url ?? request.url} needs ${needed}`);
    request.actor = token.name;
    request.credential = { kind: 'token', name: token.name, issuedAt: token.createdAt };
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
    if (options.https) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
}
