// Secure by default, as Mosquitto 2 is: with no credentials the hub serves this machine only, and
// it refuses to listen on the network without them unless told `allow_anonymous: true`. Once a
// site has had an API token, the API never opens again by itself: revoking the last one closes it.
import { isIP } from 'node:net';
import type { TokenStanding } from './tokens.ts';

export function isLoopbackAddress(address: string): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

export function isLoopbackBind(bind: string): boolean {
  return bind === 'localhost' || isLoopbackAddress(bind);
}

/**
 * A Host header that names this machine: localhost, 127.x.x.x or [::1], with or without a port.
 * A page that rebinds a DNS name it controls to 127.0.0.1 still sends its own name here.
 */
export function isLoopbackHost(host: string): boolean {
  const name = /^(\[[^\]]*\]|[^:[\]]*)(?::\d{1,5})?$/.exec(host)?.[1]?.toLowerCase();
  return (
    name === 'localhost' || name === '[::1]' || (name !== undefined && isIP(name) === 4 && name.startsWith('127.'))
  );
}

export interface ExposureInput {
  bind: string;
  allowAnonymous: boolean;
  /** Any device password, or a CA that device certificates are checked against. */
  deviceLogins: boolean;
  apiTokens: TokenStanding;
}

const CREATE_TOKEN = 'npm run floorwatch -- tokens create <name> --role admin';

const HOW_TO_SECURE = [
  'give each device a password:  npm run floorwatch -- devices add <device-id> --zone <zone>',
  `and create an API token:      ${CREATE_TOKEN}`,
  'or, on a network you trust completely, set security.allow_anonymous: true in floorwatch.yaml',
  'or keep the hub on this machine only: FLOORWATCH_BIND=127.0.0.1',
];

/** Why the hub must not start as configured; undefined when it may. A site whose tokens were all revoked is closed, not exposed. */
export function exposureRefusal(input: ExposureInput): string | undefined {
  if (isLoopbackBind(input.bind) || input.allowAnonymous) return undefined;
  const missing = [
    ...(input.deviceLogins ? [] : ['no device has a password']),
    ...(input.apiTokens !== 'none' ? [] : ['no API token exists']),
  ];
  if (missing.length === 0) return undefined;
  return `the hub is set to listen on ${input.bind}, which other machines can reach, but ${missing.join(' and ')}: anyone on the network could publish readings or read the floor. To fix it:\n  - ${HOW_TO_SECURE.join('\n  - ')}`;
}

/** What the log says at every start about who can get in. */
export function exposureWarnings(input: ExposureInput): string[] {
  const warnings: string[] = [];
  if (input.allowAnonymous) {
    warnings.push(
      `security.allow_anonymous is on: clients without a password are accepted from any address that can reach ${input.bind}`,
    );
  }
  if (input.apiTokens === 'all_revoked' && !input.allowAnonymous) {
    warnings.push(
      `every API token of this site has been revoked: the API refuses every request (401) until an administrator creates a new token: ${CREATE_TOKEN}`,
    );
  }
  return warnings;
}

export interface TokenlessRequest {
  tokens: TokenStanding;
  allowAnonymous: boolean;
  /** The remote address of the connection. */
  address: string;
  /** The Host header, when there is one (a browser always sends it). */
  host: string | undefined;
}

export type TokenlessVerdict =
  | { served: true }
  /** 401: the request needs a token; 421: a name that is not this machine, on a hub that answers without a token. */
  | { served: false; status: 401 | 421; message: string };

/**
 * Whether a request without a valid API token is served. Open only while no token was ever
 * created, and then only from this machine and to this machine's names; anywhere, only with
 * security.allow_anonymous. A live token always closes the API.
 */
export function tokenlessAccess(request: TokenlessRequest): TokenlessVerdict {
  if (request.tokens === 'live') {
    return {
      served: false,
      status: 401,
      message: `this hub needs an API token: send "Authorization: Bearer <token>" (an administrator creates one with: npm run floorwatch -- tokens create <name> --role viewer)`,
    };
  }
  if (request.allowAnonymous) return { served: true };
  if (request.tokens === 'all_revoked') {
    return {
      served: false,
      status: 401,
      message: `every API token of this hub has been revoked, so the API accepts no request until an administrator creates a new token on the hub's machine: ${CREATE_TOKEN}`,
    };
  }
  if (!isLoopbackAddress(request.address)) {
    return {
      served: false,
      status: 401,
      message: `this hub has no API token yet, so it answers without one only on its own machine, not to ${request.address}: create a token there with: ${CREATE_TOKEN} (or, on a network you trust completely, set security.allow_anonymous: true)`,
    };
  }
  if (request.host !== undefined && !isLoopbackHost(request.host)) {
    return {
      served: false,
      status: 421,
      message: `this hub has no API token yet, so it answers only when called by this machine's own name (localhost, 127.0.0.1 or [::1]), not as ${JSON.stringify(request.host.slice(0, 100))}: a web page may be reaching it through a DNS name of its own. Put localhost or 127.0.0.1 in the address instead, or create an API token: ${CREATE_TOKEN}`,
    };
  }
  return { served: true };
}
