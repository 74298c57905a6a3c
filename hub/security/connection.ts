// What the broker's guard reads off a connection: its address, the name in its TLS certificate,
// and which connection cap its login joins.
import type { Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Principal } from './acl.ts';
import type { LoginResult } from './mqtt-login.ts';
import { sourceOf } from './source-address.ts';

/**
 * Which connection count a login joins. A device needs none: its client id is its device id, and
 * MQTT lets one client id hold one connection (a new one takes the old one's place). Tokens are
 * counted by name, anonymous clients by source. Anonymous clients of a hub open to this machine
 * only (no device passwords yet) are not counted: they are all this machine's own, such as a
 * simulated floor of hundreds of devices.
 */
export function capOf(
  result: Extract<LoginResult, { principal: Principal }>,
  address: string,
): { key: string; who: string } | undefined {
  const { principal, credential } = result;
  if (principal.kind === 'integration') return { key: `token ${principal.name}`, who: `token ${principal.name}` };
  if (principal.kind === 'anonymous' && credential === undefined) {
    const source = sourceOf(address);
    return { key: `anonymous ${source}`, who: `anonymous clients from ${source}` };
  }
  return undefined;
}

export function addressOf(stream: unknown): string {
  return (stream as Partial<Socket>).remoteAddress ?? 'unknown address';
}

export function commonName(socket: TLSSocket): string | undefined {
  const cn: unknown = (socket.getPeerCertificate().subject as PeerCertificate['subject'] | undefined)?.CN;
  return typeof cn === 'string' ? cn : undefined;
}
