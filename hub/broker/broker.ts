// The embedded MQTT broker: TCP on the MQTT port (unless only TLS is allowed), MQTTS when TLS is
// configured, and WebSocket through the HTTP server (see api/mqtt-websocket.ts). It carries the
// devices' messages to whoever takes them in (sources/mqtt.ts) and the hub's own announcements
// (alerts, statuses) to subscribers. A QoS 1 PUBACK is held until the message is taken in: aedes
// sends the PUBACK only after authorizePublish calls back, and a held callback back-pressures only
// that client. Logins, the topic ACL and the per-client limits (security/broker-guard.ts) come
// first; a QoS 2 message is taken in once however often it arrives (qos2-arrivals.ts).
import './quiet-debug.ts';
import { once, type EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { IncomingMessage as HttpRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { BrokerGuard, type BrokerLimits } from '../security/broker-guard.ts';
import type { MqttLogin } from '../security/mqtt-login.ts';
import type { Revocations } from '../security/revocations.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { mayRetain } from '../security/acl.ts';
import { NoticeLog } from '../telemetry/notices.ts';
import { Admission, type Admitted, type AdmissionOptions } from './admission.ts';
import type { AdmissionStatus } from './admission-status.ts';
import { boundOfflineQueues, markRedeliveries, OutgoingQueues, type OutgoingStore } from './outgoing-queues.ts';
import { Qos2Arrivals, type IncomingPackets } from './qos2-arrivals.ts';
import { RetainedBudget } from './retained-budget.ts';
import {
  keepGrantedOnly,
  SubscriptionBound,
  type SubscriptionLimits,
  type SubscriptionStore,
} from './subscriptions.ts';
import { PersistentSessions } from './sessions.ts';
import { Connecting } from './connecting.ts';
import { addressOf } from '../security/connection.ts';
import { parseDeviceTopic, topics, type TopicKind } from '../domain/topics.ts';
import type { Wills } from '../cluster/broker-state.ts';
import type { TopicRule } from '../security/topic-rules.ts';
import { counted } from '../domain/counted.ts';

/** A device's message, as the broker hands it over to be taken in. */
export interface DeviceMessage {
  client: Client | null;
  packet: PublishPacket;
  device: string;
  kind: TopicKind;
}

const STALE_WILL = 'stale will';

/** A message taken in; `retain: false` when the broker must not keep it even if it asked to be retained. */
export type Taken = { retain: boolean };

export interface BrokerOptions {
  host: string;
  /** Plain MQTT; absent when security.require_tls leaves only MQTTS. */
  port?: number;
  prefix: string;
  /** Takes a device's message in; the PUBACK waits for it. Undefined: the hub stops first, no PUBACK. */
  take: (message: DeviceMessage) => Promise<Taken | undefined>;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  login: MqttLogin;
  revocations: Revocations;
  limits: BrokerLimits & SubscriptionLimits & { connectTimeoutMs: number; maxConnectingPerAddress: number };
  /** How much the hub takes in under load (sources/admission.ts). */
  admission: Omit<AdmissionOptions, 'now' | 'onShed' | 'onFlooding' | 'floodGraceMs'>;
  /** The site's own topic rules, before the built-in ACL (security.topic_rules). */
  topicRules?: readonly TopicRule[];
  /** In a cluster: the message bus and persistence shared with the other hubs (cluster/broker-state.ts). */
  shared?: { mq: unknown; persistence: unknown; wills: Wills; heartbeatMs: number };
  /** MQTTS: PEM certificate and key; with a CA, device certificates it signed log in by their CN. */
  tls?: { port: number; cert: Buffer; key: Buffer; ca?: Buffer };
}

/** What a reloaded configuration changes in a running broker. */
export interface BrokerSettings {
  limits: BrokerOptions['limits'];
  topicRules: readonly TopicRule[];
  admission: Pick<AdmissionOptions, 'maxPendingBytes' | 'maxDelayMs' | 'maxRulesBehindMs'>;
}

export interface Broker {
  /** Plain MQTT; undefined when security.require_tls leaves only MQTTS. */
  readonly port: number | undefined;
  /** The MQTTS port, when TLS is configured. */
  readonly tlsPort: number | undefined;
  /** Serves one MQTT connection that arrived another way (WebSocket). */
  handle(stream: Duplex, request: HttpRequest): void;
  publish: (topic: string, payload: string | Buffer, options?: { retain?: boolean }) => Promise<void>;
  connectedClients(): number;
  /** What admission control is doing now: bytes waiting for the journal, the delay, what it shed, who is paused. */
  admission(): AdmissionStatus;
  /** Takes on a reloaded configuration's limits, topic rules and admission bounds. */
  reconfigure(next: BrokerSettings): void;
  /** Stops accepting connections; the broker keeps serving those it has. */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

/** Sockets beyond limits.max_connections held open so many at a time, to be refused with a CONNACK rather than closed. */
const REFUSING_ROOM = 256;

const SHEDDING =
  'the hub is overloaded (messages wait more than limits.max_ingest_delay for the journal, or the rules are more than rules.max_behind behind): QoS 0 messages of clients sending more than their share are not taken in; QoS 1 messages are acknowledged as they are stored';

export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const { log, metrics, prefix, now } = options;
  let closing = false;

  const { limits, revocations } = options;
  const guard = new BrokerGuard({
    login: options.login,
    revocations,
    limits,
    prefix,
    log,
    metrics,
    now,
    connectedClients: () => broker.connectedClients,
    ...(options.topicRules && { topicRules: options.topicRules }),
  });
  const notices = new NoticeLog(log, now);
  const sessions = new PersistentSessions(limits);
  const admission = new Admission({
    ...options.admission,
    now,
    onShed: (packets) => {
      metrics.mqttShed.inc(packets);
      notices.once('shed', SHEDDING);
    },
    floodGraceMs: limits.rateGraceMs,
    onFlooding: (stream) => {
      const client = (stream as Duplex & { client?: Client }).client;
      metrics.mqttRefused.inc({ reason: 'flooding' });
      notices.once(
        `flooding:${client?.id ?? 'unknown'}`,
        `client ${client?.id ?? 'unknown'} sent QoS 0 messages past its share of the overloaded hub for ${limits.rateGraceMs / 1000} s (limits.rate_grace); disconnected, and what it had sent meanwhile is not read`,
      );
    },
  });
  /** Connections whose client has published: under overload only these stop being read. */
  const publishers = new WeakSet<object>();
  // The limits are read where they apply, so a reloaded configuration's take effect at once.
  const retained = new RetainedBudget(limits);
  const subscriptions = new SubscriptionBound(limits);
  const outgoing = new OutgoingQueues(limits, (client, queued) => {
    metrics.mqttRefused.inc({ reason: 'outgoing_queue_full' });
    notices.once(
      `queue:${client.id}`,
      `client ${client.id} has not read ${counted(queued.messages, 'message')} (${queued.bytes} bytes) the hub has for it, past limits.max_queued_messages / max_queued_bytes; disconnected`,
    );
  });
  /**
   * Whether the broker keeps this message as retained: only a device's status under the prefix,
   * and only while what clients retain stays within limits.max_retained_bytes. Otherwise it is
   * delivered to subscribers as usual and not kept.
   */
  const keepRetained = (client: Client | null, packet: PublishPacket): void => {
    if (!packet.retain) return;
    const payloadBytes = packet.payload.length;
    const reason = !mayRetain(prefix, packet.topic)
      ? 'not_retained_topic'
      : !retained.admit(packet.topic, payloadBytes)
        ? 'retained_full'
        : undefined;
    metrics.mqttRetainedBytes.set(retained.bytes);
    if (reason === undefined) return;
    packet.retain = false;
    metrics.mqttRetainIgnored.inc({ reason });
    const who = client?.id ?? 'a last will';
    notices.once(
      `retain:${reason}:${who}`,
      reason === 'not_retained_topic'
        ? `${who} sent a retained message to ${packet.topic.slice(0, 200)}; under ${prefix}/ only a device's status is retained, so it was delivered and not kept`
        : `${who} sent a retained message to ${packet.topic.slice(0, 200)}, but what clients retain is at limits.max_retained_bytes (${limits.maxRetainedBytes}); it was delivered and not kept`,
    );
  };
  /**
   * A message done with, taken in or not: its bytes leave the read budget and its in-flight slot
   * frees. One function for all: a closure made per message costs more than the call.
   */
  const settle = (admitted: Admitted, held: boolean, client: Client | null): void => {
    admission.done(admitted);
    if (held) guard.release(client);
  };
  /** Takes a device's message in (or lets another through); calls back once it is journaled. */
  const authorize = (
    client: Client | null,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
    route: ReturnType<typeof parseDeviceTopic>,
    verdict: ReturnType<BrokerGuard['admit']>,
  ): void => {
    if (!route || verdict === 'drop') {
      keepRetained(client, packet);
      callback(null);
      return;
    }
    if (client) publishers.add(client.conn);
    // Only QoS 1 and 2 wait for an acknowledgement, so only they count against max_inflight.
    const held = packet.qos > 0;
    const full = held ? guard.hold(client) : undefined;
    if (full) {
      callback(full);
      return;
    }
    const admitted = admission.begin(packet.payload.length + packet.topic.length);
    const message = { client, packet, device: route.device, kind: route.kind };
    const taken =
      client && packet.qos === 2 ? qos2.takeOnce(client, packet, () => options.take(message)) : options.take(message);
    taken.then(
      (outcome) => {
        settle(admitted, held, client);
        if (!outcome) return;
        if (outcome !== 'copy' && !outcome.retain) packet.retain = false;
        keepRetained(client, packet);
        callback(null);
      },
      (err: unknown) => {
        settle(admitted, held, client);
        // A bug, not bad input: log it loudly, keep the client connected, and do not acknowledge.
        log.error({ err, topic: packet.topic }, 'unexpected error while taking in a message');
      },
    );
  };
  const broker = await Aedes.createBroker({
    ...(options.shared && {
      mq: options.shared.mq,
      persistence: options.shared.persistence,
      heartbeatInterval: options.shared.heartbeatMs,
    }),
    connectTimeout: limits.connectTimeoutMs,
    // No keepaliveLimit: Aedes answers it with CONNACK 6, which MQTT 3.1.1 lacks; the guard's preConnect holds keepalives to the limit instead.
    preConnect(client, packet, done) {
      connecting.connected((client as Client & { conn: Duplex }).conn);
      outgoing.watch(client);
      guard.preConnect(client, packet, done);
    },
    maxInflightInbound: limits.maxInflight,
    // After the login: a client that may connect may still not have a session kept for it.
    authenticate(client, username, password, done) {
      guard.authenticate(client, username, password, (err, ok) => {
        if (err || ok !== true || sessions.admit(client.id, client.clean)) {
          metrics.mqttPersistentSessions.set(sessions.size);
          done(err, ok);
          return;
        }
        // CONNACK 3, server unavailable: as for too many connections.
        done(
          guard.loginError(
            'sessions_full',
            3,
            client.id,
            `client ${client.id} asked to keep its session between connections, but ${sessions.size} are kept, the most allowed (limits.max_persistent_sessions); refused. A client that connects with a clean session ends the one kept for it`,
          ),
          null,
        );
      });
    },
    authorizeSubscribe(client, subscription, callback) {
      guard.authorizeSubscribe(client, subscription, (err, granted) => {
        if (err || !granted) {
          callback(err, granted);
          return;
        }
        // Counted from a client's first subscription (a persistent session's restored ones come here
        // too, before the client is registered, so a connection lost meanwhile never disconnects);
        // one whose connection closed while it was asked is not counted: no close is to come.
        const { conn } = client as Client & { conn: Duplex };
        if (conn.destroyed) {
          callback(null, null);
          return;
        }
        if (!subscriptions.counts(client))
          conn.once('close', () => {
            subscriptions.forget(client);
            metrics.mqttSubscriptions.set(subscriptions.size);
          });
        const verdict = subscriptions.admit(client, granted.topic);
        metrics.mqttSubscriptions.set(subscriptions.size);
        if (verdict === 'ok') {
          callback(null, granted);
          return;
        }
        metrics.mqttRefused.inc({ reason: 'too_many_subscriptions' });
        notices.once(
          `subscriptions:${client.id}`,
          verdict === 'client_full'
            ? `client ${client.id} is subscribed to ${limits.maxSubscriptionsPerClient} topics, the most limits.max_subscriptions_per_client allows; its subscription to "${granted.topic.slice(0, 200)}" is refused`
            : `the connected clients are subscribed to ${limits.maxSubscriptions} topics in all, the most limits.max_subscriptions allows; the subscription of ${client.id} to "${granted.topic.slice(0, 200)}" is refused`,
        );
        // A null subscription is a failure code (128) in the SUBACK; the client stays connected.
        callback(null, null);
      });
    },
    authorizePublish(client, packet, callback) {
      const verdict = guard.admit(client, packet);
      if (verdict instanceof Error) {
        callback(verdict);
        return;
      }
      const route = parseDeviceTopic(prefix, packet.topic);
      // While the hub stops, the broker publishes the last will of every connected device; those
      // devices did not go offline, the hub did. Refusing the will keeps it out of the journal
      // and from subscribers alike (Aedes drops a refused will).
      if (closing && route?.kind === 'status') {
        callback(new Error('the hub is stopping'));
        return;
      }
      // In a cluster: the will of a hub that died, published by this one (see Wills).
      const willOf = (packet as { brokerId?: unknown }).brokerId;
      if (options.shared && route?.kind === 'status' && typeof willOf === 'string' && willOf !== broker.id) {
        const device = route.device;
        const { wills } = options.shared;
        // The refusal of a stale will, once dropped; a failure of Redis on the way is the callback's too.
        const dropStale = async (): Promise<Error | undefined> => {
          if (!(await wills.stale(device, willOf))) return undefined;
          await wills.drop(device, willOf);
          log.info(
            { device },
            `dropped the last will of ${device} left by a hub that stopped: the device is connected again`,
          );
          return new Error(STALE_WILL);
        };
        dropStale().then(
          (refusal) => (refusal ? callback(refusal) : authorize(client, packet, callback, route, verdict)),
          (err: unknown) => callback(err as Error),
        );
        return;
      }
      authorize(client, packet, callback, route, verdict);
    },
  });

  // Aedes' persistence (the aedes-persistence interface), which keeps each QoS 2 message until its
  // PUBREL, and QoS 1/2 messages for clients with a persistent session until they acknowledge them.
  const persistence = (broker as Aedes & { persistence: IncomingPackets & OutgoingStore & SubscriptionStore })
    .persistence;
  keepGrantedOnly(persistence, subscriptions);
  const qos2 = new Qos2Arrivals(persistence);
  markRedeliveries(persistence);
  boundOfflineQueues(persistence, limits, (clientId) => {
    metrics.mqttQueueDropped.inc();
    notices.once(
      `offline:${clientId}`,
      `client ${clientId} has a persistent session whose kept messages reached limits.max_queued_messages (or all such sessions together limits.max_offline_messages); new messages are not kept for it until it reads and acknowledges`,
    );
  });

  // The clients served now, to look over when a password or token is withdrawn.
  const clients = new Set<Client>();
  const closeWithdrawn = () => {
    for (const client of clients) guard.closeIfWithdrawn(client);
  };
  revocations.on('changed', closeWithdrawn);
  /** In a cluster: the clients whose hub is recorded for their will (Wills). */
  const withWill = new WeakSet<Client>();
  broker.on('client', (client) => {
    clients.add(client);
    if (options.shared && (client as Client & { will?: unknown }).will) {
      withWill.add(client);
      options.shared.wills.connected(client.id, broker.id);
    }
    metrics.mqttClients.set(broker.connectedClients);
    // A login checked just before a change, but registered after the look over that followed it.
    guard.closeIfWithdrawn(client);
  });
  broker.on('clientDisconnect', (client) => {
    clients.delete(client);
    if (withWill.delete(client)) options.shared?.wills.disconnected(client.id, broker.id);
    metrics.mqttClients.set(broker.connectedClients);
  });
  broker.on('unsubscribe', (topics, client) => {
    subscriptions.release(client, topics);
    metrics.mqttSubscriptions.set(subscriptions.size);
  });
  broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'MQTT client error'));
  // A failure of the broker's own (its persistence in Redis, a will sweep): logged, never fatal.
  // Aedes emits it without declaring it.
  (broker as unknown as EventEmitter).on('error', (err: Error) => {
    // A stale will refused ends that sweep early; it was dropped and logged, the next sweep goes on.
    if (err.message !== STALE_WILL) log.warn({ err: err.message }, `MQTT broker: ${err.message}`);
  });
  broker.on('connectionError', (client, err) =>
    log.debug({ client: client.id, err: err.message }, 'MQTT connection error'),
  );

  const connecting = new Connecting(limits);
  /** A new socket, TCP, TLS or WebSocket, let in unless its source has too many waiting to connect. */
  const enter = (stream: Duplex, request?: HttpRequest): Duplex | undefined => {
    const address = addressOf(request?.socket ?? stream);
    if (connecting.open(stream, address)) return admit(guard.accept(stream, request));
    metrics.mqttRefused.inc({ reason: 'too_many_connecting' });
    notices.once(
      `connecting:${address}`,
      `MQTT sockets from ${address} closed as they came: ${limits.maxConnectingPerAddress} from its address have not sent CONNECT yet (limits.max_connecting_per_address)`,
    );
    stream.destroy();
    return undefined;
  };
  const admit = (stream: Duplex): Duplex =>
    admission.gate(stream, {
      publishes: () => publishers.has(stream),
      maxPacketBytes: limits.maxPacketBytes,
      tooLarge: (length) => guard.packetTooLarge(stream, length),
    });
  const server: Server | undefined =
    options.port === undefined
      ? undefined
      : createServer((socket) => {
          const stream = enter(socket);
          if (stream) broker.handle(stream);
        });
  const { tls } = options;
  // requestCert without rejectUnauthorized: a device may log in by certificate or by password.
  const tlsServer =
    tls &&
    createTlsServer(
      {
        cert: tls.cert,
        key: tls.key,
        ...(tls.ca && { ca: tls.ca, requestCert: true, rejectUnauthorized: false }),
        // A handshake is counted only once done (Connecting): it gets the time a CONNECT gets, not 2 min.
        handshakeTimeout: limits.connectTimeoutMs,
      },
      (socket) => {
        const stream = enter(socket);
        if (stream) broker.handle(stream);
      },
    );
  tlsServer?.on('tlsClientError', (err, socket) =>
    log.debug({ address: socket.remoteAddress, err: err.message }, 'MQTTS handshake failed'),
  );
  const listen = async (target: Server, port: number): Promise<number> => {
    target.listen(port, options.host);
    await once(target, 'listening');
    const address = target.address();
    return typeof address === 'object' && address ? address.port : port;
  };
  const port = server && options.port !== undefined ? await listen(server, options.port) : undefined;
  let tlsPort: number | undefined;
  try {
    if (tlsServer) tlsPort = await listen(tlsServer, tls.port);
  } catch (err) {
    server?.close();
    throw err;
  }
  const servers = [server, tlsServer].filter((s) => s !== undefined);
  // A socket is an Aedes client from its first byte, before any CONNECT: past max_connections
  // logins are refused with CONNACK 3, and past it and the room for those being refused, sockets
  // are closed as they come, or a client opening them faster than connect_timeout ends them would
  // grow the broker without bound.
  const holdSockets = () => {
    for (const s of servers) s.maxConnections = limits.maxConnections + REFUSING_ROOM;
  };
  holdSockets();
  for (const s of servers)
    s.on('drop', (socket?: { remoteAddress?: string }) => {
      metrics.mqttRefused.inc({ reason: 'too_many_sockets' });
      notices.once(
        'sockets',
        `MQTT connections from ${socket?.remoteAddress ?? 'an unknown address'} and others closed as they came: ${limits.maxConnections + REFUSING_ROOM} sockets are open, limits.max_connections and room for ${REFUSING_ROOM} being refused`,
      );
    });
  const serversClosed = Promise.all(
    servers.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve()))),
  );

  const publish = (topic: string, payload: string | Buffer, publishOptions: { retain?: boolean } = {}) =>
    new Promise<void>((resolve, reject) => {
      broker.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: 1,
          retain: publishOptions.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });

  await publish(topics.hubStatus(prefix), 'online', { retain: true });
  // In a cluster the status is the site's: another hub's clean stop says offline, and this one,
  // still running, says online again; only the last hub to stop leaves offline behind.
  let saidOffline = false;
  if (options.shared)
    broker.subscribe(
      topics.hubStatus(prefix),
      (packet, done) => {
        if (!saidOffline && packet.payload.toString() === 'offline')
          void publish(topics.hubStatus(prefix), 'online', { retain: true }).catch(() => undefined);
        done();
      },
      () => undefined,
    );

  return {
    port,
    tlsPort,
    handle: (stream, request) => {
      const entered = enter(stream, request);
      if (entered) broker.handle(entered, request);
    },
    publish,
    connectedClients: () => broker.connectedClients,
    admission: () => admission.status(),
    reconfigure: (next) => {
      // Limits of a connection's own (its message rate, keepalive) apply to connections made from now on.
      Object.assign(limits, next.limits);
      // Aedes reads both for each connection, from fields it does not declare.
      Object.assign(broker, { connectTimeout: limits.connectTimeoutMs, maxInflightInbound: limits.maxInflight });
      holdSockets();
      guard.setTopicRules(next.topicRules);
      admission.retune({ ...next.admission, floodGraceMs: limits.rateGraceMs });
    },
    stopAccepting: async () => {
      // close() stops listening at once; its callback waits for the open connections, which the
      // broker ends in close() below.
      for (const s of servers) if (s.listening) s.close();
    },
    async close() {
      saidOffline = true;
      await publish(topics.hubStatus(prefix), 'offline', { retain: true }).catch(() => undefined);
      closing = true;
      admission.close();
      revocations.off('changed', closeWithdrawn);
      for (const s of servers) if (s.listening) s.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await serversClosed;
    },
  };
}
