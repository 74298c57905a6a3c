// A throwaway redis-server for integration tests: its own temp dir and 127.0.0.1 port, an
// append-only file (a restarted Redis keeps the fencing counter), nothing left behind.
//   const redis = await startRedis();  // answers PING
//   await redis.pause();                // SIGSTOP: the port stays open and nothing answers
//   await redis.resume();               // SIGCONT
//   await redis.stop(); await redis.start();  // a restart on the same port and data
//   await redis.dispose();              // final
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach } from 'vitest';
import { EntryForwarder } from '../../hub/cluster/forwarder.ts';
import { freePort } from './influxd.ts';
import { range, reading } from './journal.ts';

export interface RedisHandle {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  readonly pid: number | undefined;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

async function answers(port: number): Promise<boolean> {
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export async function startRedis(): Promise<RedisHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'floorwatch-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const killOnExit = (): void => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.on('exit', killOnExit);

  const start = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--logfile',
      join(dir, 'redis.log'),
    ];
    child = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (child.exitCode !== null)
        throw new Error(`redis-server exited with ${child.exitCode} on port ${port} (log in ${dir})`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running?.pid === undefined || running.exitCode !== null) return;
    running.kill('SIGCONT');
    running.kill('SIGKILL');
    await once(running, 'exit');
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    stop,
    start,
    async dispose() {
      await stop();
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A redis-server for one test file, started at once (`await` it at the file's top), emptied after
 * each test and stopped after the last, and a client of it with `keyPrefix`.
 */
export async function redisForTests(keyPrefix = 'fw:'): Promise<{ server: RedisHandle; redis: Redis }> {
  const server = await startRedis();
  const redis = new Redis(server.url, { keyPrefix });
  afterEach(async () => {
    await redis.flushall();
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });
  return { server, redis };
}

/** Forwards readings `from`..`to` of a node to its stream, as its journal's consumer would. */
export async function forwardReadings(redis: Redis, node: string, from: number, to: number): Promise<void> {
  const forwarder = new EntryForwarder({ redis, node, maxEntries: 100_000 });
  await forwarder.forward(
    range(from, to).map((i) => reading(i)),
    to,
  );
}
