// One connection to an external MQTT broker (a `bridges` entry), MQTT 5 or 3.1.1, with a
// persistent session so what the broker holds for the hub survives a reconnect. Its will says the
// hub is offline; each connection says it is online. In a cluster the status is the site's: a hub
// that sees another say offline says online again while it runs, so only the last to go leaves
// offline behind. What goes out waits for the broker's PUBACK,
// within a time limit: a broker that is away is an error for the caller, whose outbox or journal
// keeps the message and tries again, rather than a queue growing in this process. A message the
// wait gave up on stays in the MQTT client's session until the broker acknowledges it, so those
// are counted and bounded (`out.max_unacknowledged`). What comes in is acknowledged only once the
// hub has it.
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BridgeConfig } from '../config/bridges.ts';
import { counted } from '../domain/counted.ts';
import { within } from '../domain/deadline.ts';

/** The broker is away or does not answer: the message waits and is sent again, it is not at fault. */
export class BrokerUnavailable extends Error {
  override readonly name = 'BrokerUnavailable';
}

/** The broker refused this message itself (an MQTT 5 PUBACK reason ≥ 0x80): sending it again cannot help. */
export class BrokerRefusal extends Error {
  override readonly name = 'BrokerRefusal';
}

export interface OutgoingMessage {
  topic: string;
  payload: string;
  retain: boolean;
  /** Sent before: the broker may already have it (MQTT 5: user property `repeat`). */
  repeat: boolean;
  /** The same on every attempt, for receivers that deduplicate (MQTT 5: user property `delivery`). */
  delivery: string;
}

/** Takes in a message from the broker; resolves once it is the hub's, and only then is it acknowledged. */
export type Incoming = (topic: string, payload: Buffer) => Promise<void>;

export interface BridgeLink {
  readonly name: string;
  readonly config: BridgeConfig;
  readonly connected: boolean;
  /** Messages sent and not yet acknowledged by the broker, at most `out.max_unacknowledged`. */
  readonly unacknowledged: number;
  publish(message: OutgoingMessage): Promise<void>;
  close(): Promise<void>;
}

export interface BridgeLinkOptions {
  bridge: BridgeConfig;
  /** The hub's topic prefix, used on the external broker too. */
  prefix: string;
  /** This hub's name in a cluster: each hub has a session of its own. */
  node?: string;
  log: Logger;
  /** Messages on the bridge's `in.topics`. */
  incoming?: Incoming;
  /** How long a publish may wait for its PUBACK. Default 10 s. */
  timeoutMs?: number;
  /** Told the count of messages sent and not yet acknowledged whenever it changes, for its gauge. */
  onUnacknowledged?: (count: number) => void;
  /**
   * The largest packet the hub's own broker takes: at MQTT 5 the site's broker is told this and
   * 64 KiB more (for a long topic and the user properties it passes on) and drops a bigger one,
   * so a message far past what ingest takes is not read into memory whole first.
   */
  maxPacketBytes?: number;
}

/** Beyond the hub's largest packet, for a long topic and the user properties a broker passes on. */
const PACKET_HEADROOM_BYTES = 64 * 1024;

export function openBridgeLink(options: BridgeLinkOptions): BridgeLink {
  const { bridge, prefix, log, incoming } = options;
  const statusTopic = `${prefix}/hub/status`;
  const clientOptions: IClientOptions = {
    clientId: `floorwatch-${bridge.name}${options.node ? `-${options.node}` : ''}`,
    protocolVersion: bridge.protocol,
    clean: false,
    ...(bridge.protocol === 5 && {
      properties: {
        sessionExpiryInterval: 7 * 86_400,
        ...(options.maxPacketBytes !== undefined && {
          maximumPacketSize: options.maxPacketBytes + PACKET_HEADROOM_BYTES,
        }),
      },
    }),
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    ...(bridge.username !== undefined && { username: bridge.username }),
    ...(bridge.password !== undefined && { password: bridge.password }),
    ...(bridge.ca !== undefined && { ca: readFileSync(bridge.ca) }),
    ...(bridge.out.status && { will: { topic: statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true } }),
  };
  const client: MqttClient = mqtt.connect(bridge.url, clientOptions);
  const sharedStatus = bridge.out.status && options.node !== undefined;
  let closing = false;
  // A message from the broker is acknowledged only once the hub has it: mqtt.js sends the PUBACK
  // (PUBREC for QoS 2) when handleMessage calls back, at MQTT 5 and 3.1.1 alike. One it cannot
  // take (the hub is stopping) is not acknowledged, and the broker sends it again.
  if (incoming || sharedStatus)
    client.handleMessage = (packet, callback) => {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (packet.topic === statusTopic) {
        if (sharedStatus && !closing && payload.toString() === 'offline') sayOnline();
        callback();
        return;
      }
      if (!incoming) {
        callback();
        return;
      }
      incoming(packet.topic, payload).then(
        () => callback(),
        (err: unknown) => {
          log.warn(
            { bridge: bridge.name, topic: packet.topic, err: (err as Error).message },
            `bridge ${bridge.name}: did not take a message on ${packet.topic} (${(err as Error).message}); the broker sends it again`,
          );
          callback(err as Error);
        },
      );
    };
  let wasConnected = false;
  let lastError = '';
  client.on('connect', (connack) => {
    log.info({ bridge: bridge.name }, `bridge ${bridge.name}: connected to ${bridge.url}`);
    lastError = '';
    wasConnected = true;
    if (bridge.out.status) sayOnline();
    // A new session (the broker forgot the old one) has no subscriptions: make them again.
    if (!connack.sessionPresent && bridge.in.topics.length > 0) subscribe();
    // Asked on every connection: a session from before this hub was in a cluster lacks it.
    if (sharedStatus) client.subscribe(statusTopic, { qos: 1 }, () => undefined);
  });
  // Every QoS 1 message stays in mqtt.js's session until the broker acknowledges it, whoever gave
  // up waiting (and is sent again on each reconnection): so each is counted until then, and past
  // the bound none is sent. A broker that takes connections and never acknowledges would
  // otherwise grow that session by one message per retry, for as long as it stays so.
  const bound = bridge.out.max_unacknowledged;
  let unacknowledged = 0;
  let refusing = false;
  /** "online" was refused at the bound: it is said as soon as there is room, or the will's "offline" would stay. */
  let onlineOwed = false;
  const addUnacknowledged = (n: number) => {
    unacknowledged += n;
    options.onUnacknowledged?.(unacknowledged);
    if (onlineOwed && unacknowledged < bound && client.connected && !closing) sayOnline();
    if (refusing && unacknowledged <= bound / 2) {
      refusing = false;
      log.info(
        { bridge: bridge.name, unacknowledged },
        `bridge ${bridge.name}: ${bridge.url} acknowledges again; messages that waited in the hub follow`,
      );
    }
  };
  const send = (topic: string, payload: string, opts: IClientPublishOptions): Promise<unknown> => {
    if (unacknowledged >= bound) {
      if (!refusing)
        log.warn(
          { bridge: bridge.name, unacknowledged },
          `bridge ${bridge.name}: ${bridge.url} has not acknowledged ${counted(bound, 'message')} (bridges.out.max_unacknowledged); what it should get waits in the hub until it does`,
        );
      refusing = true;
      return Promise.reject(
        new BrokerUnavailable(
          `${bridge.url} has not acknowledged the ${counted(bound, 'message')} sent to it before (bridges.out.max_unacknowledged)`,
        ),
      );
    }
    addUnacknowledged(1);
    const acknowledged = client.publishAsync(topic, payload, opts);
    const settled = () => addUnacknowledged(-1);
    acknowledged.then(settled, settled);
    return acknowledged;
  };
  const sayOnline = () => {
    onlineOwed = unacknowledged >= bound;
    void send(statusTopic, 'online', { qos: 1, retain: true }).catch(() => undefined);
  };
  client.on('error', (err) => {
    if (err.message === lastError) return;
    lastError = err.message;
    log.warn({ bridge: bridge.name, err: err.message }, `bridge ${bridge.name}: ${bridge.url}: ${err.message}`);
  });
  client.on('offline', () => {
    if (wasConnected)
      log.warn(
        { bridge: bridge.name },
        `bridge ${bridge.name}: lost ${bridge.url}; reconnecting (what it should get waits in the hub)`,
      );
    wasConnected = false;
  });
  const subscribe = () => {
    // MQTT 5 brokers share one subscription among the hubs of a group: each message goes to one of them.
    const group = bridge.protocol === 5 ? bridge.in.shared_group : undefined;
    const filters = bridge.in.topics.map((t) => (group ? `$share/${group}/${t}` : t));
    client.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err)
        log.error(
          { bridge: bridge.name, err: err.message },
          `bridge ${bridge.name}: could not subscribe: ${err.message}`,
        );
      for (const g of granted ?? [])
        if (g.qos >= 0x80)
          log.error(
            { bridge: bridge.name, topic: g.topic },
            `bridge ${bridge.name}: ${bridge.url} refused the subscription to ${g.topic}`,
          );
    });
  };
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    name: bridge.name,
    config: bridge,
    get connected() {
      return client.connected;
    },
    get unacknowledged() {
      return unacknowledged;
    },
    publish: async (message) => {
      if (!client.connected) throw new BrokerUnavailable(`not connected to ${bridge.url}`);
      const properties =
        bridge.protocol === 5
          ? { userProperties: { delivery: message.delivery, repeat: message.repeat ? 'yes' : 'no' } }
          : undefined;
      let acknowledged: boolean;
      try {
        acknowledged = await within(
          send(message.topic, message.payload, { qos: 1, retain: message.retain, ...(properties && { properties }) }),
          timeoutMs,
        );
      } catch (err) {
        if (err instanceof BrokerUnavailable) throw err;
        // An MQTT 5 PUBACK with a failure reason (not authorized, topic invalid, …) refuses this
        // message for good; anything else is the broker's state, and the message waits.
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'number' && code >= 0x80)
          throw new BrokerRefusal(`${bridge.url} refused ${message.topic}: ${(err as Error).message}`);
        throw new BrokerUnavailable((err as Error).message);
      }
      if (!acknowledged) throw new BrokerUnavailable(`${bridge.url} did not acknowledge within ${timeoutMs / 1000} s`);
    },
    close: async () => {
      closing = true;
      // A clean stop says so before leaving: the will is for a hub that vanished.
      if (client.connected && bridge.out.status)
        await within(send(statusTopic, 'offline', { qos: 1, retain: true }), timeoutMs).catch(() => false);
      await client.endAsync(true);
      // What the session held goes with it.
      unacknowledged = 0;
      options.onUnacknowledged?.(0);
    },
  };
}
