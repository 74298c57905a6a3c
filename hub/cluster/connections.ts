// A hub's connections to the cluster's Redis: one for commands, one each for the two blocking
// stream reads, and one for subscriptions. Commands fail fast while Redis is away (the lease must
// not wait in a queue), and each has a time limit, since a Redis that is stopped rather than gone
// keeps its connections open; the subscriber keeps its queue so its subscriptions are made again
// when Redis is back.
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/** A connection silent this long past its commands' time limit is taken to be to a Redis that is stopped. */
const SILENT_GRACE_MS = 1000;

/**
 * A connection whose commands fail fast: at once while Redis is away (nothing queued for it), and
 * after `commandTimeoutMs` while it is silent. A Redis stopped rather than gone keeps the
 * connection open, and ioredis keeps each command that timed out queued, arguments and all, until
 * it answers: so a connection silent a second longer is closed, and what it had not answered is
 * not sent again on the next (its callers were told it timed out).
 */
export function failFastRedis(url: string, commandTimeoutMs: number, more: RedisOptions = {}): Redis {
  const connection = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    socketTimeout: commandTimeoutMs + SILENT_GRACE_MS,
    autoResendUnfulfilledCommands: false,
    ...more,
  });
  // ioredis 5.11 leaves the silence timer of a connection that closed running, and at its time it
  // closes the next connection, healthy or not (redis/ioredis#2147).
  connection.on('close', () => {
    const state = connection as unknown as { socketTimeoutTimer?: ReturnType<typeof setTimeout> };
    clearTimeout(state.socketTimeoutTimer);
    state.socketTimeoutTimer = undefined;
  });
  return connection;
}

export interface ClusterConnections {
  /** Commands, keys under the cluster's prefix. */
  redis: Redis;
  /** The rules leader's blocking read of every hub's stream. */
  reading: Redis;
  /** Each hub's blocking read of the other hubs' streams. */
  peerReading: Redis;
  subscriber: Redis;
  /** Redis's last error while it is away; undefined once it answers. */
  readonly error: string | undefined;
  disconnect(): void;
}

export async function connectCluster(options: {
  url: string;
  prefix: string;
  log: Logger;
  commandTimeoutMs: number;
  /** How long each blocking read waits for news, beyond the command's own limit. */
  readWaitMs: number;
  peerWaitMs: number;
}): Promise<ClusterConnections> {
  const { url, log, commandTimeoutMs } = options;
  const failFast = (timeoutMs: number) => failFastRedis(url, timeoutMs, { keyPrefix: `${options.prefix}:` });
  const redis = failFast(commandTimeoutMs);
  const reading = failFast(commandTimeoutMs + options.readWaitMs);
  const peerReading = failFast(commandTimeoutMs + options.peerWaitMs);
  const subscriber = new Redis(url, { lazyConnect: true });
  const all = [redis, reading, peerReading, subscriber];
  let error: string | undefined;
  for (const c of all) {
    c.on('error', (err: Error) => {
      if (err.message !== error)
        log.warn({ err: err.message }, `Redis at ${url} (the cluster's rules): ${err.message}`);
      error = err.message;
    });
    c.on('ready', () => (error = undefined));
  }
  const disconnect = () => {
    for (const c of all) c.disconnect();
  };
  try {
    await Promise.all(all.map((c) => c.connect()));
  } catch (err) {
    disconnect();
    throw new Error(`cannot reach Redis at ${url} (cluster.redis_url): ${(err as Error).message}`, { cause: err });
  }
  return {
    redis,
    reading,
    peerReading,
    subscriber,
    get error() {
      return error;
    },
    disconnect,
  };
}
