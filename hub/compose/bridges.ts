// The site's external brokers (`bridges`): one connection each. In: device messages taken from
// that broker into ingest, the broker acknowledged only once the journal has them. Out: births and
// wills (and readings) as a journal consumer per bridge; alerts are added to the outbox by alerting.
import type { BridgeLink } from '../bridges/link.ts';
import { BrokerUnavailable, openBridgeLink } from '../bridges/link.ts';
import { counted } from '../domain/counted.ts';
import { nodeId } from '../config/cluster.ts';
import { parseDeviceTopic } from '../domain/topics.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { Journal } from '../journal/journal.ts';
import { bridgeEntries } from '../notify/bridge-out.ts';
import { mqttReadings } from '../sources/mqtt.ts';
import { NoticeLog } from '../telemetry/notices.ts';
import { passedOverNotice } from './passed-over.ts';
import type { PublishPacket } from 'aedes';
import type { HubContext } from './context.ts';

/** A journal consumer's name for a bridge: lower-case letters, digits and '-'. */
function consumerName(bridge: string): string {
  return `bridge-${bridge.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 32);
}

export function openBridges(
  ctx: HubContext,
  deps: {
    ingest: Ingest;
    journal: Journal;
    /** The largest packet the hub's own broker takes, told to each bridge's broker. */
    maxPacketBytes: number;
  },
): BridgeLink[] {
  const { config, log, now, lifecycle } = ctx;
  const prefix = config.mqtt.topic_prefix;
  const node = config.cluster.redis_url === undefined ? undefined : nodeId(config.cluster);
  const notices = new NoticeLog(log, now);
  return config.bridges.map((bridge) => {
    const readings = mqttReadings({ ingest: deps.ingest, log, now, bridge: bridge.name });
    let ignored = 0;
    const incoming =
      bridge.in.topics.length === 0
        ? undefined
        : async (topic: string, payload: Buffer) => {
            const route = parseDeviceTopic(prefix, topic);
            if (!route) {
              // Acknowledged and left: only the device topics of the contract are taken in.
              if (ignored++ % 1000 === 0)
                log.warn(
                  { bridge: bridge.name, topic },
                  `bridge ${bridge.name}: ${topic} is not a device topic; ignored`,
                );
              return;
            }
            const packet = { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false } as PublishPacket;
            const taken = await readings.take({ client: null, packet, device: route.device, kind: route.kind });
            if (!taken) throw new Error('the hub is stopping');
          };
    const link = openBridgeLink({
      bridge,
      prefix,
      log,
      ...(node !== undefined && { node }),
      ...(incoming && { incoming }),
      onUnacknowledged: (count) => ctx.metrics.bridgeUnacknowledged.set({ bridge: bridge.name }, count),
      maxPacketBytes: deps.maxPacketBytes,
    });
    const consumer =
      bridge.out.status || bridge.out.readings
        ? deps.journal.consume(consumerName(bridge.name), bridgeEntries(link, prefix, node ? `${node}-` : ''), {
            from: 'end',
            transient: (err) => err instanceof BrokerUnavailable,
            keepsAtMost: bridge.out.max_behind,
            onPassedOver: passedOverNotice({
              notices,
              key: `behind ${bridge.name}`,
              count: (passed) => ctx.metrics.bridgePassedOver.inc({ bridge: bridge.name }, passed),
              says: (total) =>
                `bridge ${bridge.name}: ${bridge.url} is ${bridge.out.max_behind} journal entries behind (bridges[].out.max_behind), so the oldest are passed over: ${total} since the hub started, whose device status and readings never reach it`,
            }),
            onError: (err, attempt) => {
              if (attempt === 1)
                log.warn(
                  { bridge: bridge.name, err: (err as Error).message },
                  `bridge ${bridge.name}: cannot send device status to ${bridge.url} (${(err as Error).message}); the journal keeps it (up to out.max_behind entries) and sends it when the broker is back`,
                );
            },
          })
        : undefined;
    lifecycle.add({
      name: `bridge ${bridge.name}`,
      stop: async () => {
        readings.stop();
        await consumer?.stop();
        await link.close();
      },
      health: () => {
        const full = link.unacknowledged >= bridge.out.max_unacknowledged;
        const ok = link.connected && !full;
        return {
          condition: ok ? 'ok' : 'degraded',
          check: {
            ok,
            detail: !link.connected
              ? `not connected to ${bridge.url}; what it should get waits in the hub`
              : full
                ? `connected to ${bridge.url}, which has not acknowledged ${counted(link.unacknowledged, 'message')}; what it should get waits in the hub`
                : `connected to ${bridge.url}`,
          },
        };
      },
    });
    return link;
  });
}
