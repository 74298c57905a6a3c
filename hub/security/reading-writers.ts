// Who may write readings over HTTP (POST /api/v1/readings), and for which devices. A device sends
// its own readings with HTTP Basic: its id and its MQTT password. An integration (a gateway of
// another make, a building-management export) uses an API token of the ingest role, and only for
// devices without a password of their own. Where the API answers without a token (a loopback hub
// that never had one, or security.allow_anonymous) anyone it answers may write while no device has
// a password, as on MQTT. No person's token writes readings: an operator must not be able to
// forge a sensor's values.
import { idProblem } from '../domain/reading.ts';
import type { DeviceCredentials } from './credentials.ts';
import type { PasswordChecks } from './password-checks.ts';
import type { Credential } from './revocations.ts';
import type { ApiTokens } from './tokens.ts';

export type ReadingWriter = { kind: 'anyone' } | { kind: 'device'; id: string } | { kind: 'ingest'; token: string };

export type WriterVerdict =
  | { writer: ReadingWriter; credential: Credential; actor: string; rateKey: string }
  | { status: 401 | 403 | 503; message: string; challenge?: string };

export interface ReadingWritersOptions {
  credentials: DeviceCredentials;
  /** The same bounded, remembering password checks MQTT logins use. */
  passwords: PasswordChecks;
  tokens: ApiTokens;
  allowAnonymous: boolean;
}

const CHALLENGE = 'Basic realm="floorwatch", Bearer realm="floorwatch"';
const HOW =
  'a device sends its own readings with HTTP Basic (user name = its device id, password = its MQTT password); an integration sends "Authorization: Bearer <token>" with a token of the ingest role (npm run floorwatch -- tokens create <name> --role ingest)';

export class ReadingWriters {
  constructor(private readonly options: ReadingWritersOptions) {}

  /**
   * Whether a request the API serves without a token (see tokenlessAccess) may also write
   * readings: only while devices need no password either, or allow_anonymous lets them in without one.
   */
  openToTokenless(): boolean {
    return this.options.allowAnonymous || !this.options.credentials.any();
  }

  /** Who sent the request, from its Authorization header; the hub is not open. */
  async identify(authorization: string | undefined): Promise<WriterVerdict> {
    if (authorization === undefined)
      return { status: 401, message: `sending readings to this hub needs a login: ${HOW}`, challenge: CHALLENGE };
    const basic = /^Basic +(\S+)$/i.exec(authorization);
    if (basic?.[1] !== undefined) return this.device(basic[1]);
    const bearer = /^Bearer +(\S+)$/i.exec(authorization);
    if (bearer?.[1] === undefined)
      return {
        status: 401,
        message: `the Authorization header is neither HTTP Basic nor a Bearer token: ${HOW}`,
        challenge: CHALLENGE,
      };
    const token = this.options.tokens.find(bearer[1]);
    if (!token)
      return {
        status: 401,
        message: 'the API token was not recognised: it may have been revoked, or mistyped',
        challenge: 'Bearer realm="floorwatch", error="invalid_token"',
      };
    if (token.role !== 'ingest') {
      return {
        status: 403,
        message: `token ${token.name} has the ${token.role} role, which does not write readings: POST /api/v1/readings needs a token of the ingest role, or the device's own login (${HOW})`,
      };
    }
    return {
      writer: { kind: 'ingest', token: token.name },
      credential: { kind: 'token', name: token.name, issuedAt: token.createdAt },
      actor: token.name,
      rateKey: token.name,
    };
  }

  /** Why this writer may not write readings for this device; undefined when it may. */
  refusal(writer: ReadingWriter, device: string): string | undefined {
    if (writer.kind === 'device' && device !== writer.id)
      return `device ${writer.id} may send only its own readings, not those of "${device.slice(0, 80)}"`;
    if (writer.kind === 'ingest' && this.options.credentials.has(device)) {
      return `device "${device}" has a password of its own, so only it may send its readings (HTTP Basic with its id and password, or MQTT); token ${writer.token} writes only for devices without one`;
    }
    return undefined;
  }

  private async device(encoded: string): Promise<WriterVerdict> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const id = colon < 0 ? decoded : decoded.slice(0, colon);
    if (colon < 0 || idProblem(id) !== undefined)
      return { status: 401, message: `HTTP Basic needs "<device id>:<password>": ${HOW}`, challenge: CHALLENGE };
    const verified = await this.options.passwords.check(id, decoded.slice(colon + 1));
    if (verified === 'busy')
      return {
        status: 503,
        message:
          'too many device passwords are being checked at once (limits.password_checks_waiting); try again shortly',
      };
    if (verified === 'wrong')
      return {
        status: 401,
        message: `wrong password for device ${id}, or no such device (or it was revoked): ${HOW}`,
        challenge: CHALLENGE,
      };
    // Device ids and token names share a grammar without ":", so the two never share a rate.
    return {
      writer: { kind: 'device', id },
      credential: { kind: 'password', device: id, issuedAt: verified.issuedAt },
      actor: `device:${id}`,
      rateKey: `device:${id}`,
    };
  }
}
