// Who may call the HTTP API. Every route is covered without doing anything itself: GET needs a
// viewer, anything that changes state an operator, and a route can ask for more (or less) with
// `config: { role: 'admin' }`. A request without a token is judged by tokenlessAccess
// (exposure.ts): open only on a loopback hub that never had a token, or with
// security.allow_anonymous.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tokenlessAccess } from './exposure.ts';
import { RequestRate } from './rate.ts';
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

function refuse(reply: FastifyReply, status: 401 | 403 | 429, message: string) {
  const error = { 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests' }[status];
  return reply.code(status).send({ error, message });
}

/** Adds authentication, roles, rate limits and security headers to every route of the app. */
export function installApiAccess(app: FastifyInstance, options: ApiAccessOptions): void {
  const { tokens } = options;
  const byAddress = new RequestRate(options.requestsPerMinute, options.now);
  const byToken = new RequestRate(options.requestsPerMinute, options.now);
  app.decorateRequest('actor', 'anonymous');
  app.decorateRequest('credential', null);

  app.addHook('onRequest', async (request, reply) => {
    const standing = tokens.standing();
    const tokenless = tokenlessAccess({ tokens: standing, allowAnonymous: options.allowAnonymous, address: request.ip });
    if (tokenless.served) {
      // Open only until the first token is created, which also ends a live feed opened now.
      request.credential = { kind: 'anonymous', openUntil: 'api_token', address: request.ip };
      return;
    }
    const addressWait = byAddress.take(request.ip);
    if (addressWait > 0) {
      reply.header('retry-after', String(addressWait));
      return refuse(reply, 429, `more than ${options.requestsPerMinute} requests a minute from ${request.ip}; try again in ${addressWait} s`);
    }
    const needed = requiredRole(request);
    const header = presentedToken(request);
    const match = header === undefined ? null : /^Bearer +(\S+)$/i.exec(header);
    const token = match?.[1] !== undefined ? tokens.find(match[1]) : undefined;
    if (!token) {
      // A public route answers anyway; health then tells only the status.
      if (needed === 'public') return;
      const invalid = header !== undefined;
      reply.header('www-authenticate', `Bearer realm="floorwatch"${invalid ? ', error="invalid_token"' : ''}`);
      // With no live token at all, what to do next matters more than which token was wrong.
      return refuse(reply, 401, invalid && standing === 'live' ? 'the API token was not recognised: it may have been revoked, or mistyped' : tokenless.message);
    }
    const tokenWait = byToken.take(token.name);
    if (tokenWait > 0) {
      reply.header('retry-after', String(tokenWait));
      return refuse(reply, 429, `more than ${options.requestsPerMinute} requests a minute with token ${token.name}; try again in ${tokenWait} s`);
    }
    if (needed !== 'public' && !roleAllows(token.role, needed)) return refuse(reply, 403, `token ${token.name} has the ${token.role} role; ${request.method} ${request.routeOptions.url ?? request.url} needs ${needed}`);
    request.actor = token.name;
    request.credential = { kind: 'token', name: token.name, issuedAt: token.createdAt };
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
    if (options.https) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
}
