// Subscriptions are made at will by anyone who may subscribe (a device to any subtopic of its
// command topic, a viewer to anything under the prefix), and each is an entry in the broker's
// topic tree, for a persistent session a record kept between connections too, and in a cluster a
// channel in Redis. So a client holds at most so many, and all connected clients together so
// many more; past either, a further one is refused in the SUBACK (the client stays connected).

/**
 * An Aedes client. A persistent session's restored subscriptions pass through authorizeSubscribe
 * at connect like new ones, so what a client holds is counted from what it was admitted.
 */
type Subscriber = object;

/** Topics subscribed to per client, and by all connected clients. */
export interface SubscriptionLimits {
  readonly maxSubscriptionsPerClient: number;
  readonly maxSubscriptions: number;
}

export type SubscriptionVerdict = 'ok' | 'client_full' | 'all_full';

export class SubscriptionBound {
  private readonly held = new WeakMap<Subscriber, Set<string>>();
  private total = 0;

  /** The bounds are read at each subscription: a reloaded configuration's apply at once. */
  constructor(private readonly limits: SubscriptionLimits) {}

  /** Whether the client may hold `topic` as well; counted when it may. One it holds already is no more. */
  admit(client: Subscriber, topic: string): SubscriptionVerdict {
    let topics = this.held.get(client);
    if (!topics) {
      topics = new Set();
      this.held.set(client, topics);
    }
    if (topics.has(topic)) return 'ok';
    if (topics.size >= this.limits.maxSubscriptionsPerClient) return 'client_full';
    if (this.total >= this.limits.maxSubscriptions) return 'all_full';
    topics.add(topic);
    this.total++;
    return 'ok';
  }

  /** Whether the bound counts the client's subscriptions yet: from its first one admitted, restored or new, until forget. */
  counts(client: Subscriber): boolean {
    return this.held.has(client);
  }

  /** Whether the client holds the topic within the bound. */
  holds(client: Subscriber, topic: string): boolean {
    return this.held.get(client)?.has(topic) === true;
  }

  /** The client unsubscribed from these. */
  release(client: Subscriber, topics: readonly string[]): void {
    const held = this.held.get(client);
    if (!held) return;
    for (const topic of topics) if (held.delete(topic)) this.total--;
  }

  /** The client is gone, and what it held with it. */
  forget(client: Subscriber): void {
    const held = this.held.get(client);
    if (!held) return;
    this.total -= held.size;
    this.held.delete(client);
  }

  /** Subscriptions the connected clients hold. */
  get size(): number {
    return this.total;
  }
}

/** The part of the aedes-persistence interface that keeps a persistent session's subscriptions. */
export interface SubscriptionStore {
  addSubscriptions(client: Subscriber, subs: ReadonlyArray<{ topic: string }>): Promise<void>;
}

/**
 * Aedes keeps a persistent session's whole SUBSCRIBE, the subscriptions refused in it too (by the
 * ACL or the bound), and asks for each again at every reconnect: only those granted are kept.
 */
export function keepGrantedOnly(store: SubscriptionStore, bound: SubscriptionBound): void {
  const add = store.addSubscriptions.bind(store);
  store.addSubscriptions = (client, subs) =>
    add(
      client,
      subs.filter((s) => bound.holds(client, s.topic)),
    );
}
