// Who a new MQTT connection is: a device (password or client certificate), an integration (an
// API token as password), or anonymous where that is allowed. The broker turns a refusal into
// CONNACK 2 (identifier rejected), 3 (server unavailable: too many password checks waiting),
// 4 (bad user name or password) or 5 (not authorized).
import { idProblem } from '../domain/reading.ts';
import type { Principal } from './acl.ts';
import type { DeviceCredentials } from './credentials.ts';
import { isLoopbackAddress, isLoopbackHost } from './exposure.ts';
import type { PasswordChecks } from './password-checks.ts';
import type { Credential } from './revocations.ts';
import { roleAllows, type ApiTokens } from './tokens.ts';

export interface ConnectionFacts {
  /** Remote address of the TCP connection. */
  address: string;
  /** Over WebSocket: the Host header of the request it came in on. */
  host?: string;
  /** CN of a client certificate that the configured CA verified. */
  certificateName?: string;
  clientId: string;
  username?: string;
  password?: Buffer;
  /** True once the connection has closed: a login still waiting for its password check is dropped. */
  gone?: () => boolean;
}

/** A login, with the credential it rests on (none for an anonymous client where security.allow_anonymous lets them in for good). */
export type LoginResult =
  { principal: Principal; credential?: Credential } | { returnCode: 2 | 3 | 4 | 5; reason: string };

export interface MqttLoginOptions {
  credentials: DeviceCredentials;
  passwords: PasswordChecks;
  tokens: ApiTokens;
  /** Device ids listed in the configuration: no integration may take one as its client id. */
  declaredDevices: ReadonlySet<string>;
  allowAnonymous: boolean;
  /** Device certificates can be checked, so the site has device logins even without passwords. */
  certificateLogins: boolean;
}

/**
 * An integration's client id is its token's name, or the name, a "-" and anything after it
 * ("node-red", "node-red-2"), so a token can only ever take over its own sessions; MQTT gives a
 * new connection the session of any connected client with the same id, and would let a token
 * logged in as "t-17" throw device t-17 off and publish its last will.
 */
export function integrationClientIdProblem(token: string, clientId: string): string | undefined {
  if (clientId === token || clientId.startsWith(`${token}-`)) return undefined;
  return `an integration logged in with token ${token} must use client id "${token}" or "${token}-…", not ${JSON.stringify(clientId.slice(0, 64))}`;
}

export class MqttLogin {
  constructor(private readonly options: MqttLoginOptions) {}

  async login(facts: ConnectionFacts): Promise<LoginResult> {
    const { credentials, tokens, passwords } = this.options;
    const { username, password, clientId } = facts;
    if (username !== undefined && username !== '') {
      const secret = password?.toString('utf8') ?? '';
      const integration = tokens.find(secret);
      if (integration) {
        if (integration.name !== username) return { returnCode: 4, reason: `the token given is not ${username}'s` };
        // An ingest token writes readings over HTTP for devices without a password; on MQTT it could only read the floor.
        if (!roleAllows(integration.role, 'viewer'))
          return {
            returnCode: 5,
            reason: `token ${integration.name} has the ${integration.role} role: it sends readings to POST /api/v1/readings and cannot log in to MQTT`,
          };
        const problem = integrationClientIdProblem(integration.name, clientId);
        if (problem) return { returnCode: 2, reason: problem };
        if (this.isDeviceId(clientId))
          return {
            returnCode: 2,
            reason: `client id ${clientId} is a device's id; integration ${integration.name} must use another "${integration.name}-…" id`,
          };
        return {
          principal: { kind: 'integration', name: integration.name, role: integration.role },
          credential: { kind: 'token', name: integration.name, issuedAt: integration.createdAt },
        };
      }
      const verdict = await passwords.check(username, password ?? '', facts.gone);
      if (verdict === 'busy')
        return {
          returnCode: 3,
          reason:
            'too many logins are waiting for their password to be checked (limits.password_checks_waiting); try again shortly',
        };
      if (verdict === 'wrong')
        return { returnCode: 4, reason: `wrong password for ${username.slice(0, 64)}, or no such device` };
      if (clientId !== username)
        return {
          returnCode: 2,
          reason: `device ${username} connected with client id ${JSON.stringify(clientId.slice(0, 64))}; it must be the device id`,
        };
      return {
        principal: { kind: 'device', id: username },
        credential: { kind: 'password', device: username, issuedAt: verdict.issuedAt },
      };
    }
    if (facts.certificateName !== undefined) {
      const id = facts.certificateName;
      const problem = idProblem(id);
      if (problem)
        return {
          returnCode: 5,
          reason: `certificate name ${JSON.stringify(id.slice(0, 64))} is not a device id: it ${problem}`,
        };
      if (credentials.isRevoked(id)) return { returnCode: 5, reason: `device ${id} was revoked` };
      if (clientId !== id)
        return {
          returnCode: 2,
          reason: `certificate of ${id} used with client id ${JSON.stringify(clientId.slice(0, 64))}; it must be the device id`,
        };
      return { principal: { kind: 'device', id }, credential: { kind: 'certificate', device: id } };
    }
    // Anonymous clients are let in without a check of who they are, so none may use the client id of a device that logs in with a password.
    if (credentials.has(clientId))
      return {
        returnCode: 2,
        reason: `client id ${clientId} is the id of a device with a password; an anonymous client may not use it`,
      };
    if (this.options.allowAnonymous) return { principal: { kind: 'anonymous' } };
    if (credentials.any() || this.options.certificateLogins)
      return { returnCode: 5, reason: 'no user name or certificate: this hub requires device credentials' };
    if (!isLoopbackAddress(facts.address))
      return {
        returnCode: 5,
        reason: `anonymous clients are accepted only from this machine, not from ${facts.address}`,
      };
    // A web page on this machine whose DNS name was rebound to 127.0.0.1 connects from here too,
    // but the request names its own host.
    if (facts.host !== undefined && !isLoopbackHost(facts.host))
      return {
        returnCode: 5,
        reason: `anonymous clients over WebSocket are accepted only when addressed to localhost, 127.0.0.1 or [::1], not to ${JSON.stringify(facts.host.slice(0, 100))}`,
      };
    // Let in only while no device has a password: the first one added closes this connection too.
    return {
      principal: { kind: 'anonymous' },
      credential: { kind: 'anonymous', openUntil: 'device_password', client: clientId, address: facts.address },
    };
  }

  private isDeviceId(id: string): boolean {
    return this.options.declaredDevices.has(id) || this.options.credentials.has(id);
  }
}
