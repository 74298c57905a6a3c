// Secure by default, as Mosquitto 2 is: with no credentials the hub serves this machine only, and
// it refuses to listen on the network without them unless told `allow_anonymous: true`.
import { isIP } from 'node:net';

export function isLoopbackAddress(address: string): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

export function isLoopbackBind(bind: string): boolean {
  return bind === 'localhost' || isLoopbackAddress(bind);
}

export interface ExposureInput {
  bind: string;
  allowAnonymous: boolean;
  /** Any device password, or a CA that device certificates are checked against. */
  deviceLogins: boolean;
  apiTokens: boolean;
}

const HOW_TO_SECURE = [
  'give each device a password:  npm run floorwatch -- devices add <device-id> --zone <zone>',
  'and create an API token:      npm run floorwatch -- tokens create <name> --role admin',
  'or, on a network you trust completely, set security.allow_anonymous: true in floorwatch.yaml',
  'or keep the hub on this machine only: FLOORWATCH_BIND=127.0.0.1',
];

/** Why the hub must not start as configured; undefined when it may. */
export function exposureRefusal(input: ExposureInput): string | undefined {
  if (isLoopbackBind(input.bind) || input.allowAnonymous) return undefined;
  const missing = [...(input.deviceLogins ? [] : ['no device has a password']), ...(input.apiTokens ? [] : ['no API token exists'])];
  if (missing.length === 0) return undefined;
  return `the hub is set to listen on ${input.bind}, which other machines can reach, but ${missing.join(' and ')}: anyone on the network could publish readings or read the floor. To fix it:\n  - ${HOW_TO_SECURE.join('\n  - ')}`;
}

/** What the log says at every start about who can get in. */
export function exposureWarnings(input: ExposureInput): string[] {
  const warnings: string[] = [];
  if (input.allowAnonymous) {
    warnings.push(`security.allow_anonymous is on: clients without a password are accepted from any address that can reach ${input.bind}`);
  }
  return warnings;
}
