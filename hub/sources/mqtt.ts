// Devices' MQTT messages as readings: what the broker (broker/broker.ts) hands over goes to ingest,
// and the broker's PUBACK waits until ingest has it durable in the journal.
import type { Logger } from 'pino';
import type { DeviceMessage, Taken } from '../broker/broker.ts';
import { backoffMs, type Backoff } from '../domain/backoff.ts';
import type { Ingest, Source } from '../ingest/ingest.ts';

export interface MqttReadings {
  take: (message: DeviceMessage) => Promise<Taken | undefined>;
  /** The hub stops: messages still waiting for the journal are left unacknowledged, for the client to send again. */
  stop(): void;
}

const RETRY: Backoff = { firstMs: 100, maxMs: 5_000 };

export function mqttReadings(options: {
  ingest: Ingest;
  log: Logger;
  now: () => number;
  /** The bridge the messages come in through, by name; the hub's own broker otherwise. */
  bridge?: string;
}): MqttReadings {
  const { ingest, log, now, bridge } = options;
  const source: Source = bridge === undefined ? 'mqtt' : 'bridge';
  let stopped = false;
  return {
    // Keeps trying while the journal cannot write (it logs that once): the PUBACK stays withheld, so
    // the client keeps the message, and a last will is not lost. Gives up only when the hub stops.
    take: async ({ packet, device, kind }) => {
      const receivedAt = now();
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      for (let retry = 1; ; retry++) {
        try {
          const outcome = await ingest.accept({
            source,
            ...(bridge !== undefined && { bridge }),
            kind,
            device,
            topic: packet.topic,
            payload,
            receivedAt,
          });
          // A device past limits.max_devices leaves nothing behind in the broker either: a retained
          // message would be kept for every id a client invents.
          return { retain: !outcome.problems.some((p) => p.reason === 'too_many_devices') };
        } catch (err) {
          if (stopped) return undefined;
          log.debug({ err: (err as Error).message, device }, `message from ${device} waits for the journal`);
          await new Promise((resolve) => setTimeout(resolve, backoffMs(retry, RETRY)));
        }
      }
    },
    stop: () => {
      stopped = true;
    },
  };
}
