// The broker's door and rules: who connects (MqttLogin), from where and how often they got the
// password wrong (login-failures.ts), how many connections one credential holds, what each may
// publish and subscribe to (acl.ts), how much one client may send (connections, packet size,
// rate, in-flight, keepalive), and who must leave because their password or token was withdrawn,
// or because they came in anonymously before devices needed a password (revocations.ts).
// Everything here runs before ingest: a refused message never reaches the journal.
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import { describePrincipal, publishProblem, subscribeProblem, type Principal } from './acl.ts';
import { topicRuleProblem, type TopicRule } from './topic-rules.ts';
import { addressOf, capOf, commonName } from './connection.ts';
import { LoginFailures, type LoginFailureSettings } from './login-failures.ts';
import type { LoginResult, MqttLogin } from './mqtt-login.ts';
import { MessageRate } from './rate.ts';
import type { Credential, Revocations } from './revocations.ts';
import { sourceOf } from './source-address.ts';
import { NoticeLog } from '../telemetry/notices.ts';

export interface BrokerLimits {
  maxConnections: number;
  /** Open connections per API token, and per source for anonymous clients under allow_anonymous. */
  maxConnectionsPerCredential: number;
  loginFailures: LoginFailureSettings;
  maxPacketBytes: number;
  /** Retained messages clients may leave in the broker, bytes in all (RetainedBudget). */
  maxRetainedBytes: number;
  /** Per client, messages waiting to be read by it, and their bytes (OutgoingQueues). */
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** QoS 1/2 messages kept for all persistent sessions together, and how many such sessions. */
  maxOfflineMessages: number;
  maxPersistentSessions: number;
  messagesPerSecond: number;
  messageBurst: number;
  rateGraceMs: number;
  maxInflight: number;
  /** The longest silence allowed, whatever keepalive a client asks for; also the TCP keepalive idle time. */
  maxKeepaliveS: number;
}

export interface BrokerGuardOptions {
  login: MqttLogin;
  revocations: Revocations;
  limits: BrokerLimits;
  prefix: string;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  connectedClients: () => number;
  /** The site's own rules, before the built-in ACL (security.topic_rules). */
  topicRules?: readonly TopicRule[];
}

interface Session {
  principal: Principal;
  /** Undefined for an anonymous client that security.allow_anonymous lets in, which nothing can withdraw. */
  credential: Credential | undefined;
  rate: MessageRate;
  inflight: number;
  /** The topic last allowed, and under which topic rules: a device publishes to the same one all day. */
  allowedTopic?: string;
  allowedUnder?: readonly TopicRule[] | undefined;
}

/** The refusal counted in floorwatch_mqtt_refused_total for each CONNACK return code a login can get. */
const LOGIN_REFUSAL = { 2: 'client_id_rejected', 3: 'logins_busy', 4: 'bad_credentials', 5: 'not_authorized' } as const;

export class BrokerGuard {
  /** Clients that connected without a client id (Aedes made one up). */
  private readonly unnamed = new WeakSet<Client>();
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly notices: NoticeLog;
  private readonly failures: LoginFailures;
  /** The open connections of each capped credential (see capOf); an entry lives as long as its connections. */
  private readonly connectionsOf = new Map<string, Set<Client>>();

  private topicRules: readonly TopicRule[] | undefined;

  constructor(private readonly options: BrokerGuardOptions) {
    this.topicRules = options.topicRules;
    this.notices = new NoticeLog(options.log, options.now);
    this.failures = new LoginFailures(options.limits.loginFailures, options.now, (tracked) => {
      options.metrics.loginFailureSourcesForgotten.inc();
      this.logOnce(
        'login_failures_full',
        `wrong passwords are being counted for ${tracked} addresses, the most kept (security.login_failures.tracked_addresses): the one quiet the longest was forgotten`,
      );
    });
  }

  /** A reloaded configuration's topic rules: every publish and subscription from now on is checked against them. */
  setTopicRules(rules: readonly TopicRule[]): void {
    this.topicRules = rules;
  }

  /**
   * Turns on TCP keepalive for a new connection: a client may ask for no MQTT keepalive at all,
   * and the probes still find a peer that vanished without closing its connection.
   */
  accept(stream: Duplex, request?: IncomingMessage): Duplex {
    const socket = request?.socket ?? stream;
    if (socket instanceof Socket) socket.setKeepAlive(true, this.options.limits.maxKeepaliveS * 1000);
    return stream;
  }

  /** A packet announced above limits.max_packet_bytes: refused (the connection is closed before the packet is read in). */
  packetTooLarge(stream: Duplex, length: number): void {
    this.refuse(
      'packet_too_large',
      addressOf(stream),
      `an MQTT packet of ${length} bytes from ${addressOf(stream)} is over the limit of ${this.options.limits.maxPacketBytes}; connection closed`,
    );
  }

  /**
   * MQTT 3.1.1 has no CONNACK code for a keepalive the server will not honour (Aedes' own check
   * answers 6, which 3.1.1 clients take for a protocol error), so every keepalive is accepted:
   * 0 means none, and TCP keepalive (accept) watches the connection instead; one above the limit
   * is held to the limit, which 3.1.1 allows: a server may close a client it finds inactive at
   * any time. Such a client is closed after 1.5 × max_keepalive without a packet.
   */
  readonly preConnect = (
    client: Client,
    packet: ConnectPacket,
    done: (error: Error | null, success: boolean) => void,
  ): void => {
    // Aedes names a client that gave no id; whether it may go without one is decided at login.
    if (packet.clientId === '') this.unnamed.add(client);
    const { maxKeepaliveS } = this.options.limits;
    if ((packet.keepalive ?? 0) > maxKeepaliveS) {
      this.options.log.debug(
        { client: packet.clientId.slice(0, 64), keepalive: packet.keepalive },
        `client ${packet.clientId.slice(0, 64)} asked for a keepalive of ${packet.keepalive} s; the hub closes it after ${maxKeepaliveS * 1.5} s without a packet (limits.max_keepalive)`,
      );
      packet.keepalive = maxKeepaliveS;
    }
    done(null, true);
  };

  readonly authenticate = (
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void => {
    const connection = client.req?.socket ?? client.conn;
    const address = addressOf(connection);
    const source = sourceOf(address);
    // [MQTT-3.1.3-7/8]: an id the server makes up serves a clean session only, which ends with the connection.
    if (this.unnamed.has(client) && !client.clean) {
      done(
        this.loginError(
          'client_id_rejected',
          2,
          address,
          `a client from ${address} gave no client id and asked to keep its session: a session needs an id of the client's own (MQTT 3.1.1, 3.1.3-8)`,
        ),
        null,
      );
      return;
    }
    if (this.options.connectedClients() >= this.options.limits.maxConnections) {
      done(
        this.loginError(
          'too_many_connections',
          3,
          address,
          `${this.options.limits.maxConnections} clients are connected, the most allowed (limits.max_connections); refused ${client.id} from ${address}`,
        ),
        null,
      );
      return;
    }
    // Before any password is looked at, so a locked-out address costs no scrypt.
    const lockedUntil = username ? this.failures.lockedUntil(source) : undefined;
    if (lockedUntil !== undefined) {
      done(
        this.loginError(
          'locked_out',
          5,
          source,
          `MQTT logins from ${source} are refused until ${new Date(lockedUntil).toISOString()}: ${this.options.limits.loginFailures.max} wrong passwords came from there (security.login_failures)`,
        ),
        null,
      );
      return;
    }
    const certificateName =
      connection instanceof TLSSocket && connection.authorized ? commonName(connection) : undefined;
    this.options.login
      .login({
        address,
        clientId: client.id,
        gone: () => client.closed || client.conn.destroyed,
        ...(client.req !== undefined && { host: client.req.headers.host ?? '' }),
        ...(username !== undefined && { username }),
        ...(password !== undefined && { password }),
        ...(certificateName !== undefined && { certificateName }),
      })
      .then(
        (result) => {
          if ('principal' in result) {
            done(...this.admitLogin(client, result, address));
            return;
          }
          done(
            this.loginError(
              LOGIN_REFUSAL[result.returnCode],
              result.returnCode,
              address,
              `MQTT login refused for client ${client.id} from ${address}: ${result.reason}`,
            ),
            null,
          );
          const locked = result.returnCode === 4 ? this.failures.fail(source) : undefined;
          if (locked !== undefined) {
            const { max, withinMs } = this.options.limits.loginFailures;
            this.options.metrics.loginLockouts.inc();
            this.logOnce(
              `lockout:${source}`,
              `${max} wrong MQTT passwords from ${source} within ${withinMs / 1000} s: logins from there are refused until ${new Date(locked).toISOString()} (security.login_failures)`,
            );
          }
        },
        (err: unknown) =>
          done(
            this.loginError(
              'not_authorized',
              3,
              address,
              `MQTT login of ${client.id} failed: ${(err as Error).message}`,
            ),
            null,
          ),
      );
  };

  /** A login that succeeded, unless its credential already holds as many connections as allowed. */
  private admitLogin(
    client: Client,
    result: Extract<LoginResult, { principal: Principal }>,
    address: string,
  ): [AuthenticateError | null, boolean | null] {
    const { limits, now } = this.options;
    const cap = capOf(result, address);
    if (cap !== undefined) {
      const open = this.connectionsOf.get(cap.key) ?? new Set<Client>();
      // A client reconnecting under its own id takes its old session over: that one is on its way out.
      let others = 0;
      for (const c of open) if (c.id !== client.id) others++;
      if (others >= limits.maxConnectionsPerCredential) {
        return [
          this.loginError(
            'credential_connections',
            5,
            cap.key,
            `${cap.who} already has ${others} MQTT connections open, the most allowed (limits.max_connections_per_credential); refused client ${client.id} from ${address}`,
          ),
          null,
        ];
      }
      this.connectionsOf.set(cap.key, open);
      open.add(client);
      const release = () => {
        open.delete(client);
        if (open.size === 0 && this.connectionsOf.get(cap.key) === open) this.connectionsOf.delete(cap.key);
      };
      if (client.conn.destroyed) release();
      else client.conn.once('close', release);
    }
    this.sessions.set(client, {
      principal: result.principal,
      credential: result.credential,
      rate: new MessageRate(limits.messagesPerSecond, limits.messageBurst, limits.rateGraceMs, now()),
      inflight: 0,
    });
    return [null, true];
  }

  /**
   * Before a message is ingested: the ACL, then the client's rate. An Error disconnects the client
   * (MQTT 3.1.1 has no negative PUBACK); 'drop' acknowledges without storing. A null client is a
   * will the broker publishes for a client already gone; it was checked against the ACL when set.
   */
  admit(client: Client | null, packet: PublishPacket): 'ok' | 'drop' | Error {
    const session = client ? this.sessions.get(client) : undefined;
    if (client && !session) return new Error('client has not logged in');
    const principal = session?.principal ?? { kind: 'anonymous' };
    const { topic } = packet;
    const allowed = session !== undefined && session.allowedTopic === topic && session.allowedUnder === this.topicRules;
    // A will (no client) was the client's to set; the site's rules judge what clients send.
    const problem = allowed
      ? undefined
      : ((client ? topicRuleProblem(this.topicRules, principal, 'publish', topic) : undefined) ??
        publishProblem(principal, this.options.prefix, topic));
    if (!problem && session && !allowed) Object.assign(session, { allowedTopic: topic, allowedUnder: this.topicRules });
    if (problem) {
      this.refuse(
        'publish_denied',
        client?.id ?? 'will',
        `publish refused for ${describePrincipal(principal)} (client ${client?.id ?? 'will'}): ${problem}; disconnected`,
      );
      return new Error(problem);
    }
    if (!client || !session || client.closed) return 'ok';
    const verdict = session.rate.take(this.options.now());
    if (verdict === 'disconnect') {
      this.refuse(
        'rate_exceeded',
        client.id,
        `client ${client.id} stayed above ${this.options.limits.messagesPerSecond} messages/s for ${this.options.limits.rateGraceMs / 1000} s; disconnected`,
      );
      return new Error('message rate limit exceeded');
    }
    if (verdict === 'drop') {
      this.options.metrics.mqttDropped.inc();
      this.logOnce(
        `drop:${client.id}`,
        `client ${client.id} sends more than ${this.options.limits.messagesPerSecond} messages/s: the excess is acknowledged but not stored`,
      );
      return 'drop';
    }
    return 'ok';
  }

  /** Counts a message being journaled; an Error when the client already has too many waiting. */
  hold(client: Client | null): Error | undefined {
    const session = client ? this.sessions.get(client) : undefined;
    if (!client || !session) return undefined;
    if (session.inflight >= this.options.limits.maxInflight) {
      this.refuse(
        'too_many_inflight',
        client.id,
        `client ${client.id} has ${session.inflight} messages waiting for acknowledgement, the most allowed (limits.max_inflight); disconnected`,
      );
      return new Error('too many messages in flight');
    }
    session.inflight++;
    return undefined;
  }

  release(client: Client | null): void {
    const session = client ? this.sessions.get(client) : undefined;
    if (session) session.inflight--;
  }

  /** Closes the client when the password, certificate or token it logged in with has been revoked or replaced since, or when it came in anonymously and devices now need a password. */
  closeIfWithdrawn(client: Client): void {
    const credential = this.sessions.get(client)?.credential;
    const withdrawal = credential && this.options.revocations.withdrawal(credential);
    if (!credential || !withdrawal || client.closed) return;
    client.close();
    this.options.revocations.closed('mqtt', credential, withdrawal);
  }

  readonly authorizeSubscribe = (
    client: Client,
    subscription: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void => {
    const principal = this.sessions.get(client)?.principal;
    const problem = principal
      ? (topicRuleProblem(this.topicRules, principal, 'subscribe', subscription.topic) ??
        subscribeProblem(principal, this.options.prefix, subscription.topic))
      : 'client has not logged in';
    if (problem) {
      this.refuse(
        'subscribe_denied',
        client.id,
        `subscription to "${subscription.topic}" refused for client ${client.id}: ${problem}`,
      );
      // A null subscription is a failure code (128) in the SUBACK; the client stays connected.
      callback(null, null);
      return;
    }
    callback(null, subscription);
  };

  /** A refused connection: counted by reason, logged once a minute per client, and its CONNACK code. */
  loginError(reason: string, returnCode: 2 | 3 | 4 | 5, who: string, message: string): AuthenticateError {
    this.refuse(reason, who, message);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- aedes types CONNACK codes as a const enum, which a module compiled on its own cannot import
    return Object.assign(new Error(message), { returnCode });
  }

  private refuse(reason: string, who: string, message: string): void {
    this.options.metrics.mqttRefused.inc({ reason });
    this.logOnce(`${reason}:${who}`, message);
  }

  private logOnce(key: string, message: string): void {
    this.notices.once(key, message);
  }
}
