// A QoS 2 message is taken in (journaled) once, however often it arrives. Aedes keeps each QoS 2 message it
// received in its persistence until the client's PUBREL, and answers a copy with the same packet
// id by PUBREC alone, without publishing it again; but the hook that journals (authorizePublish)
// runs before that check, for every copy. So a message is journaled only when Aedes will publish
// it: not while an earlier copy is still being journaled (copies that arrive in one socket read
// are handled together), and not while an earlier copy awaits its PUBREL. What is tracked here
// lasts only while a copy is being journaled: at most max_inflight per client (BrokerGuard.hold);
// what awaits PUBREL is Aedes' own state, bounded by its maxInflightInbound.
import type { Client, PublishPacket } from 'aedes';

/** The part of the aedes-persistence interface asked here: resolves with the stored packet, rejects when none is. */
export interface IncomingPackets {
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
}

export class Qos2Arrivals {
  private readonly underway = new WeakMap<Client, Map<number, Promise<unknown>>>();

  constructor(private readonly incoming: IncomingPackets) {}

  /** Runs `take` for a QoS 2 message Aedes has not seen yet; resolves 'copy' without running it for a copy of one it has. */
  async takeOnce<T>(client: Client, packet: PublishPacket, take: () => Promise<T>): Promise<T | 'copy'> {
    const id = packet.messageId ?? 0;
    let mine = this.underway.get(client);
    if (!mine) {
      mine = new Map();
      this.underway.set(client, mine);
    }
    const earlier = mine.get(id);
    if (earlier) {
      await earlier.catch(() => undefined);
      // Let Aedes store the first copy before it looks this one up: then it answers this one with
      // PUBREC alone rather than forwarding the message to subscribers a second time.
      await new Promise((resolve) => setImmediate(resolve));
      return 'copy';
    }
    const work = this.incoming.incomingGetPacket(client, packet).then(
      () => 'copy' as const,
      () => take(),
    );
    mine.set(id, work);
    const done = () => {
      if (mine.get(id) === work) mine.delete(id);
    };
    work.then(done, done);
    return work;
  }
}
