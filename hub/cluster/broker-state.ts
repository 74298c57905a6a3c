// What a hub's broker shares with the other hubs through Redis: its message bus (emitter.ts), and
// its persistence (aedes-persistence-redis: retained messages, subscriptions, persistent sessions
// and wills), so a device may connect to any hub, a client id that connects to a second hub takes
// over from the first, and retained messages outlive a hub's restart.
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { NoticeLog } from '../telemetry/notices.ts';
import { AwaySessions, type SessionWrites } from './away-sessions.ts';
import { ClusterEmitter } from './emitter.ts';
import { failFastRedis } from './connections.ts';

export interface BrokerStateOptions {
  url: string;
  node: string;
  prefix: string;
  /** Copies of messages for the other hubs waiting for Redis, at most. */
  maxWaiting: number;
  log: Logger;
  /** The hub's clock: how often forged messages are told. */
  now: () => number;
  /** A copy for the other hubs not sent. */
  onNotSent: () => void;
  /** How long closing waits for Redis. Default 2000 ms. */
  closeTimeoutMs?: number;
}

/** The aedes persistence, as far as this module handles it; the broker uses the rest. */
interface Persistence extends SessionWrites {
  destroy(cb: () => void): void;
}

/**
 * Where each client with a last will last connected, so a will left by a hub that died is not
 * published once its device has connected to another hub: Aedes publishes the wills of a hub
 * that stopped sending heartbeats whether or not the device is back elsewhere, and a stale
 * "offline" would then overwrite the device's "online" and raise an alert that lies.
 */
export interface Wills {
  /** A client with a will connected to the broker `brokerId`. */
  connected(clientId: string, brokerId: string): void;
  /** It left this broker cleanly; its entry goes unless it has connected elsewhere since. */
  disconnected(clientId: string, brokerId: string): void;
  /** Whether a will stored by `brokerId` (a hub presumed dead) is stale: its client connected elsewhere since. */
  stale(clientId: string, brokerId: string): Promise<boolean>;
  /** Removes a stale will, so the next sweep does not find it again. */
  drop(clientId: string, brokerId: string): Promise<void>;
}

/** Longest wait for a broker command (a retained message, a will) while Redis is stopped. */
const COMMAND_TIMEOUT_MS = 2000;
const PRESENCE_KEY = 'presence';
const FORGET = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`;
const createPersistence = createRequire(import.meta.url)('aedes-persistence-redis') as (options: {
  conn: Redis;
}) => Persistence;

export interface BrokerState {
  mq: ClusterEmitter;
  persistence: Persistence;
  wills: Wills;
  /** After the broker has closed (it closes `mq`): lets go of the persistence, within the time limit. */
  close(): Promise<void>;
}

/** Connects to Redis; refuses with a message that says where, when Redis does not answer. */
export async function openBrokerState(options: BrokerStateOptions): Promise<BrokerState> {
  const { url, prefix, log } = options;
  // Publishing and the persistence fail fast while Redis is away rather than queue without bound;
  // the subscriber keeps its queue for a change asked just as Redis goes (the bus holds back those
  // made while it is away, and asks the difference once it is back: emitter.ts).
  // A Redis that is stopped rather than gone keeps the connection open: commands need a time limit
  // too, or a retained message would wait for Redis for as long as it is stopped.
  const pub = failFastRedis(url, COMMAND_TIMEOUT_MS);
  // Its queued (un)subscriptions are never dropped after retries: the bus takes what it asked as asked.
  const sub = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null });
  const conn = failFastRedis(url, COMMAND_TIMEOUT_MS, { keyPrefix: `${prefix}:` });
  const connections = [pub, sub, conn];
  let lastError = '';
  for (const c of connections) {
    c.on('error', (err: Error) => {
      if (err.message === lastError) return;
      lastError = err.message;
      log.warn({ err: err.message }, `Redis at ${url} (the cluster's shared state): ${err.message}`);
    });
    // Told once per reason and outage: the next outage is told again.
    c.on('ready', () => (lastError = ''));
  }
  try {
    await Promise.all(connections.map((c) => c.connect()));
  } catch (err) {
    for (const c of connections) c.disconnect();
    throw new Error(`cannot reach Redis at ${url} (cluster.redis_url): ${(err as Error).message}`, { cause: err });
  }
  const closeTimeoutMs = options.closeTimeoutMs ?? 2000;
  const notices = new NoticeLog(log, options.now);
  const mq = new ClusterEmitter({
    node: options.node,
    prefix,
    pub,
    sub,
    maxInFlight: options.maxWaiting,
    closeTimeoutMs,
    onNotSent: options.onNotSent,
    // Anyone who can write to the Redis chooses these, and their reasons: at most a line a minute.
    onUnreadable: (err) =>
      notices.once(
        'cluster-bus-unreadable',
        `ignored messages on the cluster's MQTT channels in Redis that are not ones (the last: ${err instanceof Error ? err.message : String(err)}); told at most once a minute`,
      ),
  });
  // aedes-persistence-redis starts some commands without waiting for them (a will's entry in the
  // list of wills, as a client with a will comes and goes): one that fails while Redis is away
  // must not be a rejection no one handles, which would end the hub. Who waits still sees it fail.
  for (const name of ['lrem', 'rpush'] as const) {
    const send = conn[name].bind(conn) as (...args: unknown[]) => Promise<unknown>;
    Object.assign(conn, {
      [name]: (...args: unknown[]) => {
        const sent = send(...args);
        sent.catch(() => undefined);
        return sent;
      },
    });
  }
  const persistence = createPersistence({ conn });
  const away = new AwaySessions({ conn, url, log });
  away.wrap(persistence);
  // Every client with a will that comes or goes while Redis is away comes here: at most a line a minute.
  const warn = (err: unknown) =>
    notices.once(
      'cluster-presence',
      `could not record in Redis which hub a device with a last will is connected to (${(err as Error).message}); told at most once a minute`,
    );
  // Nor does Aedes handle every failed deletion of a will through the promise (a client with a
  // will leaving while Redis is away): that one reads as no will, told at most once a minute, as
  // every client with a will that leaves during an outage comes here.
  const delWill = persistence.delWill.bind(persistence);
  persistence.delWill = (client, cb) =>
    cb
      ? delWill(client, cb)
      : delWill(client)?.catch((err: unknown) => {
          notices.once(
            'cluster-will-removal',
            `could not remove last wills from Redis (${(err as Error).message}); told at most once a minute`,
          );
          return null;
        });
  const wills: Wills = {
    connected: (clientId, brokerId) => {
      const record = () => conn.hset(PRESENCE_KEY, clientId, brokerId);
      if (!away.owesPresence(clientId, record)) void record().catch(warn);
    },
    disconnected: (clientId, brokerId) => void conn.eval(FORGET, 1, PRESENCE_KEY, clientId, brokerId).catch(warn),
    stale: async (clientId, brokerId) => {
      const at = await conn.hget(PRESENCE_KEY, clientId);
      return at !== null && at !== brokerId;
    },
    drop: (clientId, brokerId) =>
      new Promise<void>((resolve, reject) => {
        void persistence.delWill({ id: clientId, brokerId }, (err) => (err ? reject(err) : resolve()));
      }),
  };
  return {
    mq,
    persistence,
    wills,
    close: () =>
      new Promise<void>((resolve) => {
        away.close();
        const timer = setTimeout(() => {
          conn.disconnect();
          resolve();
        }, closeTimeoutMs);
        persistence.destroy(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
