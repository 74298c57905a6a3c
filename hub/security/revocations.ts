// A password or token withdrawn while the hub runs must not leave open what it let in, nor may
// what an open hub let in without one outlive the first password or token. The command line
// changes the credential files without talking to the hub, so the hub looks at them once a
// second; after a change, the broker and the live feed check each open connection's credential
// here and close those that no longer hold. Each one closed is logged, counted and audited.
import { EventEmitter } from 'node:events';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Audit } from './audit.ts';
import type { DeviceCredentials } from './credentials.ts';
import type { ApiTokens } from './tokens.ts';

/** What a connection was let in with; the issue time tells a rotated or re-created secret from the one used. */
export type Credential =
  | { kind: 'password'; device: string; issuedAt: number }
  | { kind: 'certificate'; device: string }
  | { kind: 'token'; name: string; issuedAt: number }
  /** None, on an open hub: the broker is open until a device has a password, the API until a token exists. */
  | { kind: 'anonymous'; openUntil: 'device_password'; client: string; address: string }
  | { kind: 'anonymous'; openUntil: 'api_token'; address: string };

/** login_required: the connection was let in anonymously, and the hub now asks for a password or token. */
export type Withdrawal = 'revoked' | 'password_changed' | 'login_required';

/** The kinds of connection that stay open after the request that authenticated them. */
export type OpenConnection = 'mqtt' | 'events';

/** How often the credential files are looked at: the longest an open connection outlives its revocation. */
const CHECK_EVERY_MS = 1000;

export interface RevocationsOptions {
  credentials: DeviceCredentials;
  tokens: ApiTokens;
  log: Logger;
  metrics: Metrics;
  audit: Audit;
}

export class Revocations extends EventEmitter<{ changed: [] }> {
  /** An unreadable file is logged once per change of the files, not once per open connection. */
  private unreadableLogged = false;

  private readonly onFileChange = (current: Stats, previous: Stats) => {
    // watchFile also reports a mere read (atime); a write through rename changes the inode and mtime.
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino) return;
    this.unreadableLogged = false;
    this.emit('changed');
  };

  constructor(private readonly options: RevocationsOptions) {
    super();
  }

  /** Starts looking at the files; a file that does not exist yet is picked up when it is created. */
  watch(): void {
    // Polling, not inotify: it also works on network and container volumes, and for a file not yet created.
    for (const path of this.paths())
      watchFile(path, { interval: CHECK_EVERY_MS, persistent: false }, this.onFileChange);
  }

  stop(): void {
    for (const path of this.paths()) unwatchFile(path, this.onFileChange);
  }

  /** Why a connection let in with this credential must not stay open; undefined while the credential holds. */
  withdrawal(credential: Credential): Withdrawal | undefined {
    try {
      return this.check(credential);
    } catch (err) {
      // A file damaged by hand: new logins fail until it is fixed, and nothing in it says an open connection was revoked.
      if (!this.unreadableLogged)
        this.options.log.error(
          { err: (err as Error).message },
          `open connections cannot be checked for revoked passwords or tokens: ${(err as Error).message}`,
        );
      this.unreadableLogged = true;
      return undefined;
    }
  }

  private check(credential: Credential): Withdrawal | undefined {
    const { credentials, tokens } = this.options;
    if (credential.kind === 'anonymous')
      return (credential.openUntil === 'api_token' ? tokens.any() : credentials.any()) ? 'login_required' : undefined;
    if (credential.kind === 'certificate') return credentials.isRevoked(credential.device) ? 'revoked' : undefined;
    if (credential.kind === 'token')
      return tokens.createdAt(credential.name) === credential.issuedAt ? undefined : 'revoked';
    const issuedAt = credentials.passwordIssuedAt(credential.device);
    if (issuedAt === undefined) return 'revoked';
    return issuedAt === credential.issuedAt ? undefined : 'password_changed';
  }

  /** Records a connection the caller has just closed because its credential was withdrawn. */
  closed(connection: OpenConnection, credential: Credential, withdrawal: Withdrawal): void {
    const { log, metrics, audit } = this.options;
    const subject = subjectOf(credential);
    metrics.revokedConnectionsClosed.inc({ connection, reason: withdrawal });
    log.info({ ...subject, connection, reason: withdrawal }, describeClosing(connection, credential, withdrawal));
    try {
      audit('hub', 'connection.close', { connection, ...subject, reason: withdrawal });
    } catch (err) {
      // A full disk must not stop the remaining connections from being closed.
      log.error(
        { err: (err as Error).message },
        `could not write the audit log (${(err as Error).message}); the closing is in this log only`,
      );
    }
  }

  private paths(): string[] {
    return [this.options.credentials.path, this.options.tokens.path];
  }
}

/** Who the connection was, for the log and the audit entry. */
function subjectOf(credential: Credential): Record<string, string> {
  if (credential.kind === 'token') return { token: credential.name };
  if (credential.kind === 'anonymous')
    return credential.openUntil === 'device_password'
      ? { client: credential.client, address: credential.address }
      : { address: credential.address };
  return { device: credential.device };
}

function describeClosing(connection: OpenConnection, credential: Credential, withdrawal: Withdrawal): string {
  if (credential.kind === 'anonymous') {
    if (credential.openUntil === 'api_token')
      return `an anonymous live feed (/api/v1/events from ${credential.address}) was opened before the API needed a token: it was closed`;
    return `an anonymous MQTT client (client ${credential.client} from ${credential.address}) was let in before devices needed a password: its connection was closed`;
  }
  const what =
    connection === 'events'
      ? 'open live feed (/api/v1/events)'
      : credential.kind === 'token'
        ? 'open MQTT connection'
        : 'open connection';
  if (credential.kind === 'token') return `token ${credential.name} was revoked: its ${what} was closed`;
  if (withdrawal === 'password_changed')
    return `device ${credential.device} has a new password: its ${what}, made with the old one, was closed`;
  return `device ${credential.device} was revoked: its ${what} was closed`;
}
