// The embedded MQTT broker as a source of readings: TCP on the MQTT port, and WebSocket through
// the HTTP server (see api/mqtt-websocket.ts). A QoS 1 PUBACK is held until ingest has the
// message's readings durable in the journal: aedes sends the PUBACK only after
// authorizePublish calls back, and a held callback back-pressures only that client.
import { createServer, type Server } from 'node:net';
import type { IncomingMessage as HttpRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Ingest } from '../ingest/ingest.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { parseDeviceTopic, topics } from './topics.ts';

export interface MqttSourceOptions {
  host: string;
  port: number;
  prefix: string;
  ingest: Ingest;
  log: Logger;
  metrics: Metrics;
  now: () => number;
}

export interface MqttSource {
  readonly port: number;
  /** Serves one MQTT connection that arrived another way (WebSocket). */
  handle(stream: Duplex, request: HttpRequest): void;
  publish(topic: string, payload: string | Buffer, options?: { retain?: boolean }): Promise<void>;
  connectedClients(): number;
  /** Stops accepting connections; the broker keeps serving those it has. */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

export async function startMqttSource(options: MqttSourceOptions): Promise<MqttSource> {
  const { ingest, log, metrics, prefix, now } = options;
  let closing = false;

  // Keeps trying while the journal cannot write: the PUBACK stays withheld, so the client holds
  // the message. Gives up when the client has gone (it re-sends on reconnect) or the hub stops.
  async function journal(client: Client | null, packet: PublishPacket, device: string, kind: 'telemetry' | 'heartbeat' | 'status'): Promise<boolean> {
    const receivedAt = now();
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let wait = RETRY_FIRST_MS;
    for (;;) {
      try {
        await ingest.accept({ source: 'mqtt', kind, device, topic: packet.topic, payload, receivedAt });
        return true;
      } catch (err) {
        const isWill = client === null || client.closed;
        if (closing || (client?.closed && !isWill)) return false;
        log.error({ err, device }, `reading from ${device} not acknowledged: the journal cannot write (${(err as Error).message}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      }
    }
  }

  const broker = await Aedes.createBroker({
    authorizePublish(client, packet, callback) {
      if (packet.topic.startsWith('$SYS')) {
        callback(new Error('$SYS topics are reserved for the broker'));
        return;
      }
      const route = parseDeviceTopic(prefix, packet.topic);
      if (!route) {
        callback(null);
        return;
      }
      journal(client, packet, route.device, route.kind).then(
        (written) => (written ? callback(null) : undefined),
        (err: unknown) => {
          // A bug, not bad input: log it loudly, keep the client connected, and do not acknowledge.
          log.error({ err, topic: packet.topic }, 'unexpected error while ingesting a message');
        },
      );
    },
  });

  broker.on('client', () => metrics.mqttClients.set(broker.connectedClients));
  broker.on('clientDisconnect', () => metrics.mqttClients.set(broker.connectedClients));
  broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'MQTT client error'));
  broker.on('connectionError', (client, err) => log.debug({ client: client?.id, err: err.message }, 'MQTT connection error'));

  const server: Server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;

  const publish = (topic: string, payload: string | Buffer, publishOptions: { retain?: boolean } = {}) =>
    new Promise<void>((resolve, reject) => {
      broker.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: publishOptions.retain ?? false, dup: false },
        (err) => (err ? reject(err) : resolve()),
      );
    });

  await publish(topics.hubStatus(prefix), 'online', { retain: true });

  return {
    port,
    handle: (stream, request) => broker.handle(stream, request),
    publish,
    connectedClients: () => broker.connectedClients,
    stopAccepting: async () => {
      // close() stops listening at once; its callback waits for the open connections, which the
      // broker ends in close() below.
      if (server.listening) server.close();
    },
    async close() {
      await publish(topics.hubStatus(prefix), 'offline', { retain: true }).catch(() => undefined);
      closing = true;
      if (server.listening) server.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await serverClosed;
    },
  };
}
