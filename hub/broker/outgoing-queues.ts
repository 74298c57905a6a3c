// Every client's outgoing queue has a bound, as Mosquitto's max_queued_messages and
// max_queued_bytes: messages the broker has handed to the client's connection that it has not
// read yet. Aedes routes a message to all subscribers and waits for each write to reach the
// socket; one subscriber that never reads would hold up routing for everyone, and what is written
// to its socket meanwhile would grow without end. Here the broker goes on at once, the client's
// own queue is counted, and past either bound the client is disconnected (and told why in the log).
import type { Client, PublishPacket } from 'aedes';

/** Read at each message, so changed limits apply at once. */
export interface OutgoingLimits {
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
}

type Deliver = (packet: PublishPacket, done: () => void) => void;

/** The two delivery functions Aedes calls for each message it routes to a client (QoS 0, and QoS 1/2). */
interface Deliveries {
  deliver0: Deliver;
  deliverQoS: Deliver;
}

export class OutgoingQueues {
  constructor(
    private readonly limits: OutgoingLimits,
    /** Called once for a client whose queue went past a bound; it is then closed. */
    private readonly onOverflow: (client: Client, queued: { messages: number; bytes: number }) => void,
  ) {}

  /** Counts the client's queue from now on; call before it can subscribe (Aedes' preConnect). */
  watch(client: Client): void {
    const queue = { messages: 0, bytes: 0, overflowed: false };
    const deliveries = client as unknown as Deliveries;
    const bounded =
      (deliver: Deliver): Deliver =>
      (packet, done) => {
        // The broker does not wait for this client: its queue is counted here instead.
        setImmediate(done);
        if (queue.overflowed) return;
        // Typed as always there, but a message published inside the hub may come without one.
        const payload = packet.payload as PublishPacket['payload'] | undefined;
        const size = Buffer.byteLength(packet.topic) + (payload?.length ?? 0);
        queue.messages++;
        queue.bytes += size;
        if (queue.messages > this.limits.maxQueuedMessages || queue.bytes > this.limits.maxQueuedBytes) {
          queue.overflowed = true;
          this.onOverflow(client, { messages: queue.messages, bytes: queue.bytes });
          client.close();
          return;
        }
        deliver.call(client, packet, () => {
          queue.messages--;
          queue.bytes -= size;
        });
      };
    deliveries.deliver0 = bounded(deliveries.deliver0);
    deliveries.deliverQoS = bounded(deliveries.deliverQoS);
  }
}

/** The part of the aedes-persistence interface that keeps QoS 1/2 messages for clients with a persistent session. */
export interface OutgoingStore {
  outgoingEnqueue(sub: { clientId: string }, packet: PublishPacket): Promise<void>;
  outgoingEnqueueCombi(subs: ReadonlyArray<{ clientId: string }>, packet: PublishPacket): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: PublishPacket): Promise<PublishPacket | undefined>;
  outgoingStream(client: { id: string }): AsyncIterable<PublishPacket | { cmd: 'pubrel' }>;
}

/**
 * [MQTT-3.3.1-1]: a message sent again to a client that reconnects with its session is marked
 * DUP. Aedes sends what the session kept without the mark; a kept message that already has a
 * packet id was sent before and never acknowledged (one queued while the client was away has none).
 */
export function markRedeliveries(store: OutgoingStore): void {
  const stream = store.outgoingStream.bind(store);
  store.outgoingStream = async function* (client) {
    for await (const packet of stream(client))
      // Redis persistence stores a missing id as null.
      yield packet.cmd === 'publish' && typeof packet.messageId === 'number' ? { ...packet, dup: true } : packet;
  };
}

const NOTHING_KEPT: Promise<void> = Promise.resolve();

/**
 * A client with a persistent session gets its QoS 1/2 messages kept while it is away, until it
 * acknowledges them; one that never comes back, or never acknowledges, would be kept for without
 * end. Each such client is held to maxQueuedMessages kept, and all of them together to maxOfflineMessages; past
 * either, a new message is not kept for it (counted and reported), as Mosquitto's
 * max_queued_messages does.
 */
export function boundOfflineQueues(
  store: OutgoingStore,
  limits: { readonly maxQueuedMessages: number; readonly maxOfflineMessages: number },
  onDropped: (clientId: string) => void,
): void {
  const kept = new Map<string, number>();
  let total = 0;
  const admit = (clientId: string): boolean => {
    const n = kept.get(clientId) ?? 0;
    if (n >= limits.maxQueuedMessages || total >= limits.maxOfflineMessages) {
      onDropped(clientId);
      return false;
    }
    kept.set(clientId, n + 1);
    total++;
    return true;
  };
  const enqueue = store.outgoingEnqueue.bind(store);
  const enqueueCombi = store.outgoingEnqueueCombi.bind(store);
  const clear = store.outgoingClearMessageId.bind(store);
  store.outgoingEnqueue = async (sub, packet) => {
    if (admit(sub.clientId)) await enqueue(sub, packet);
  };
  // Aedes asks this for every QoS 1/2 message, mostly with no one to keep it for: that answer is
  // one shared promise, not a new one with an array per message.
  const keep = async (subs: ReadonlyArray<{ clientId: string }>, packet: PublishPacket): Promise<void> => {
    const admitted = subs.filter((sub) => admit(sub.clientId));
    if (admitted.length > 0) await enqueueCombi(admitted, packet);
  };
  store.outgoingEnqueueCombi = (subs, packet) => (subs.length === 0 ? NOTHING_KEPT : keep(subs, packet));
  store.outgoingClearMessageId = async (client, packet) => {
    const cleared = await clear(client, packet);
    const n = kept.get(client.id);
    if (cleared && n !== undefined) {
      if (n <= 1) kept.delete(client.id);
      else kept.set(client.id, n - 1);
      total--;
    }
    return cleared;
  };
}
