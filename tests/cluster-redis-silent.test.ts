// A Redis stopped rather than gone keeps its connections open, and ioredis keeps each command
// that timed out queued, arguments and all, until Redis answers: under a stream of broker
// messages and forwarded entries that grew for as long as Redis stayed stopped. A connection
// silent past its commands' limit is closed, and from then on commands fail at once rather than
// queue; once Redis answers it is used again.
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { connectCluster, type ClusterConnections } from '../hub/cluster/connections.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

describe('the cluster’s connections to a Redis that is stopped', () => {
  let server: RedisHandle | undefined;
  let connections: ClusterConnections | undefined;
  afterAll(async () => {
    server?.resume();
    connections?.disconnect();
    await server?.dispose();
  });

  it('close once silent past the commands’ limit, so nothing more queues, and connect again', async () => {
    server = await startRedis();
    connections = await connectCluster({
      url: server.url,
      prefix: 'silent',
      log: pino({ level: 'silent' }),
      commandTimeoutMs: 200,
      readWaitMs: 100,
      peerWaitMs: 100,
    });
    const { redis } = connections;
    server.pause();
    // Closed with an error of its own, which the connections log.
    const closed = new Promise((resolve) => redis.once('close', resolve));
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        redis.set(`k${i}`, 'x'.repeat(1000)).catch((err: unknown) => (err as Error).message),
      ),
    );
    expect(new Set(answers)).toEqual(new Set(['Command timed out']));
    await closed;
    const queued = redis.commandQueue.length;
    expect(queued).toBeLessThanOrEqual(100);
    // Meanwhile commands fail at once, rather than queue behind those.
    const more = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        redis.set(`m${i}`, 'x'.repeat(1000)).catch((err: unknown) => (err as Error).message),
      ),
    );
    expect(more.every((m) => m !== 'OK' && m !== 'Command timed out')).toBe(true);
    expect(redis.commandQueue.length).toBeLessThanOrEqual(queued);

    server.resume();
    if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
    expect(await redis.ping()).toBe('PONG');
  });
  it('leave a connection made after a restart alone: a command in flight as Redis went does not time it out', async () => {
    const restarted = await startRedis();
    const own = await connectCluster({
      url: restarted.url,
      prefix: 'silent',
      log: pino({ level: 'silent' }),
      commandTimeoutMs: 1000,
      readWaitMs: 1000,
      peerWaitMs: 1000,
    });
    try {
      const { reading } = own;
      // A blocking read in flight as Redis goes: its silence deadline, 3 s on, is that connection's.
      const cut = reading.xread('BLOCK', 1000, 'STREAMS', 'nothing', '$').catch(() => 'cut');
      await restarted.stop();
      expect(await cut).toBe('cut');
      await restarted.start();
      // It may have connected again already, while Redis was being started.
      if (reading.status !== 'ready') await new Promise((resolve) => reading.once('ready', resolve));
      // Reads on the new connection, one after the other across that deadline, each within the
      // commands' limit: each answers (nothing came); none is cut.
      for (let i = 0; i < 3; i++) expect(await reading.xread('BLOCK', 1500, 'STREAMS', 'nothing', '$')).toBeNull();
    } finally {
      own.disconnect();
      await restarted.dispose();
    }
  });
});
