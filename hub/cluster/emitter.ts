// The broker's message bus in a cluster: what one node's broker publishes reaches subscribers on
// every node, through Redis pub/sub (mqemitter-redis). Subscribers on the same node get it at
// once, from the node itself, never through Redis: so a Redis that is slow or gone never holds up
// a device's messages, their PUBACKs or the alerts announced on the node that raised them. Only
// the copy for the other nodes waits for Redis, and at most `maxInFlight` such copies wait at a
// time; past that a copy is not sent (counted), as a subscriber would miss it anyway.
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import mqemitter, { type Message, type MQEmitter } from 'mqemitter';

type Listener = (message: Message, done: () => void) => void;

/** mqemitter-redis with its channels under a prefix; the package exports it but does not declare it. */
type PrefixedRedisEmitter = new (prefix: string, options: { pubConn: Redis; subConn: Redis }) => MQEmitter;
const { MQEmitterRedisPrefix } = createRequire(import.meta.url)('mqemitter-redis') as {
  MQEmitterRedisPrefix: PrefixedRedisEmitter;
};

/** Which node a message on the bus came from; a node skips its own when Redis brings them back. */
const ORIGIN = 'floorwatchNode';
/** Which message it is, unique across the bus's starts; a node hands each on once (see fromOtherNodes). */
const MESSAGE_ID = 'floorwatchMessage';

export interface ClusterEmitterOptions {
  node: string;
  /** Channel prefix: clusters that share one Redis do not hear each other. */
  prefix: string;
  /** Publishes to Redis; without an offline queue, so an outage is an error rather than a growing buffer. */
  pub: Redis;
  /** Receives from Redis; its subscriptions are renewed when it reconnects. */
  sub: Redis;
  /** Copies for other nodes waiting for Redis at most. */
  maxInFlight: number;
  /** A copy for other nodes that was not sent: too many were waiting, or Redis refused it. */
  onNotSent: (reason: 'busy' | 'failed', err?: Error) => void;
  /** A message on the bus's channels that is not one (anyone who may write to the Redis may publish there): ignored. */
  onUnreadable: (err: unknown) => void;
  /** How long close() waits for Redis before it drops the connections. Default 2000 ms. */
  closeTimeoutMs?: number;
}

export class ClusterEmitter implements MQEmitter {
  private readonly local = mqemitter({ concurrency: 100, matchEmptyLevels: true });
  private readonly remote: MQEmitter;
  private inFlight = 0;
  private readonly instance = randomUUID();
  private sent = 0;
  /** The last message from another node handed to this node's subscribers. */
  private lastHanded: string | undefined;
  /**
   * The topic filters this node's subscribers hold, each subscribed once in Redis: Redis then sends
   * a node only the messages someone on it wants, rather than every message to every node.
   */
  private readonly filters = new Map<string, { count: number; listener: Listener }>();
  /**
   * The filters asked of Redis, and the listener each was asked with. While Redis is away a
   * change waits, and only the difference is asked once it is back: each change would otherwise
   * wait in the connection's queue, a device reconnecting in a loop adding two for as long as
   * Redis stays away.
   */
  private readonly asked = new Map<string, Listener>();

  constructor(private readonly options: ClusterEmitterOptions) {
    // Channels "<prefix>/mqtt/<topic>": the pattern for '#' is then "<prefix>/mqtt*", which no
    // other channel of the cluster (the rules', "<prefix>:…") matches.
    this.remote = new MQEmitterRedisPrefix(`${options.prefix}/mqtt/`, { pubConn: options.pub, subConn: options.sub });
    // mqemitter-redis passes each connection error on to an emitter of its own that no one
    // listens to, where it would be thrown and end the hub; the connections' own listeners log it
    // (broker-state.ts).
    (this.remote as unknown as { state: EventEmitter }).state.on('error', () => undefined);
    // And it decodes what arrives on its channels in its listeners, where a message that is not
    // one would throw the same way. (What reaches this node's subscribers is checked, and handed
    // to them outside these listeners, in fromOtherNodes.)
    const { sub, onUnreadable } = options;
    // Back: what changed meanwhile is asked, the difference only.
    sub.on('ready', () => {
      for (const topic of new Set([...this.asked.keys(), ...this.filters.keys()])) this.askRedis(topic);
    });
    for (const event of ['messageBuffer', 'pmessageBuffer'])
      for (const listener of sub.listeners(event) as Array<(...args: unknown[]) => void>) {
        sub.off(event, listener);
        sub.on(event, (...args: unknown[]) => {
          try {
            listener(...args);
          } catch (err) {
            onUnreadable(err);
          }
        });
      }
  }

  get current(): number {
    return this.local.current;
  }

  get concurrent(): number {
    return this.local.concurrent;
  }

  /** Copies for other nodes now waiting for Redis. */
  get waiting(): number {
    return this.inFlight;
  }

  // The subscription is done once it is made here: waiting for Redis would hold a SUBACK for as
  // long as Redis is away. Until Redis has it, messages from other nodes on the topic are missed.
  on(topic: string, listener: Listener, callback?: () => void): this {
    this.local.on(topic, listener, callback);
    const filter = this.filters.get(topic);
    if (filter) filter.count++;
    else {
      // One function per filter: mqemitter-redis's prefixed emitter keeps one proxy per function.
      const fromOthers: Listener = (message, done) => this.fromOtherNodes(message, done);
      this.filters.set(topic, { count: 1, listener: fromOthers });
      this.askRedis(topic);
    }
    return this;
  }

  removeListener(topic: string, listener: Listener, callback?: () => void): void {
    this.local.removeListener(topic, listener, callback);
    const filter = this.filters.get(topic);
    if (!filter || --filter.count > 0) return;
    this.filters.delete(topic);
    this.askRedis(topic);
  }

  /** Asks Redis for the filter if it is wanted and not asked, or no longer for it, when Redis is there to ask. */
  private askRedis(topic: string): void {
    if (this.options.sub.status !== 'ready') return;
    const wanted = this.filters.get(topic)?.listener;
    const asked = this.asked.get(topic);
    if (asked && asked !== wanted) {
      this.asked.delete(topic);
      this.remote.removeListener(topic, asked);
    }
    if (wanted && !this.asked.has(topic)) {
      this.asked.set(topic, wanted);
      this.remote.on(topic, wanted);
    }
  }

  emit(message: Message, callback?: (error?: Error) => void): void {
    this.local.emit(message, callback);
    if (this.inFlight >= this.options.maxInFlight) {
      this.options.onNotSent('busy');
      return;
    }
    this.inFlight++;
    const id = `${this.instance}:${++this.sent}`;
    this.remote.emit({ ...message, [ORIGIN]: this.options.node, [MESSAGE_ID]: id }, (err) => {
      this.inFlight--;
      if (err) this.options.onNotSent('failed', err);
    });
  }

  /** Closes the node's bus and its Redis connections; a Redis that does not answer is given closeTimeoutMs. */
  close(callback: () => void): void {
    const { pub, sub } = this.options;
    this.local.close(() => {
      // The connections are this bus's own: quit them here rather than through mqemitter-redis,
      // whose quit would reject unheard when a connection is dropped.
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        callback();
      };
      // Past the limit the sockets are dropped and the stop goes on without waiting for them to end.
      const timer = setTimeout(() => {
        pub.disconnect();
        sub.disconnect();
        finish();
      }, this.options.closeTimeoutMs ?? 2000);
      void Promise.allSettled([pub.quit(), sub.quit()]).then(finish);
    });
  }

  private readonly fromOtherNodes: Listener = (message, done) => {
    if (message[ORIGIN] === this.options.node) {
      done();
      return;
    }
    // A message that matches several of this node's filters reaches the listener of each of them,
    // one after another (mqemitter matches it against every filter it was given): only the first
    // hands it on, or every subscriber here would get it once per matching filter.
    const id: unknown = message[MESSAGE_ID];
    if (typeof id === 'string' && id === this.lastHanded) {
      done();
      return;
    }
    this.lastHanded = typeof id === 'string' ? id : undefined;
    const { [ORIGIN]: _origin, [MESSAGE_ID]: _id, ...packet } = message;
    // Anyone who may write to the Redis may publish on the bus: a message without a text topic and
    // a payload of bytes or text would break the broker's listeners, and is not handed to them.
    const { topic, payload } = packet as Partial<Message>;
    if (typeof topic !== 'string' || !(Buffer.isBuffer(payload) || typeof payload === 'string')) {
      this.options.onUnreadable(new Error(`a message without a topic and a payload of bytes or text`));
      done();
      return;
    }
    // Out of mqemitter-redis's listener, whose failures are read as unreadable messages.
    queueMicrotask(() => this.local.emit(packet as Message, () => done()));
  };
}
