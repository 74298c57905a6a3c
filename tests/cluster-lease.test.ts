import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FENCE_CHECK, FENCE_KEY, RulesLease } from '../hub/cluster/lease.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

const TTL_MS = 600;
const clock = {
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
};

interface Node {
  lease: RulesLease;
  redis: Redis;
  terms: number[];
  deposed: string[];
  /** When, on the test's clock, it was last deposed. */
  deposedAt?: number;
  /** Resolves at the next election or deposition. */
  next(): Promise<void>;
}

let server: RedisHandle;
const nodes: Node[] = [];

function connect(): Redis {
  const redis = new Redis(server.url, {
    keyPrefix: 'lease-test:',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: TTL_MS / 3,
  });
  redis.on('error', () => undefined);
  return redis;
}

async function node(name: string): Promise<Node> {
  const redis = connect();
  await new Promise((resolve) => redis.once('ready', resolve));
  let wake: () => void = () => undefined;
  const n: Node = {
    redis,
    terms: [],
    deposed: [],
    next: () => new Promise<void>((resolve) => (wake = resolve)),
    lease: new RulesLease({
      redis,
      node: name,
      ttlMs: TTL_MS,
      clock,
      onElected: (token) => {
        n.terms.push(token);
        wake();
      },
      onDeposed: (reason) => {
        n.deposed.push(reason);
        n.deposedAt = clock.now();
        wake();
      },
    }),
  };
  nodes.push(n);
  return n;
}

/** Starts the nodes and waits until one of them leads. */
async function elect(...candidates: Node[]): Promise<Node> {
  const elected = Promise.race(candidates.map((c) => c.next().then(() => c)));
  for (const c of candidates) c.lease.start();
  return elected;
}

beforeAll(async () => {
  server = await startRedis();
});
afterEach(async () => {
  for (const n of nodes.splice(0)) {
    await n.lease.stop();
    n.redis.disconnect();
  }
  const admin = new Redis(server.url);
  await admin.flushall();
  admin.disconnect();
});
afterAll(async () => {
  await server.dispose();
});

describe('the rules lease', () => {
  it('is held by one node at a time, and passes on when its holder stops', async () => {
    const a = await node('a');
    const b = await node('b');
    const c = await node('c');
    const leader = await elect(a, b, c);
    const others = [a, b, c].filter((n) => n !== leader);
    expect(leader.lease.token).toBe(1);
    expect(others.map((n) => n.lease.token)).toEqual([undefined, undefined]);

    const successor = Promise.race(others.map((n) => n.next().then(() => n)));
    await leader.lease.stop();
    const next = await successor;
    expect(next.lease.token).toBe(2);
    expect(leader.deposed).toEqual(['this node is stopping']);
    expect([...a.terms, ...b.terms, ...c.terms].sort()).toEqual([1, 2]);
  });

  it('is given up by a term that could not start, which asks for none while it waits', async () => {
    const a = await node('a');
    await elect(a);
    expect(a.lease.token).toBe(1);
    // A token not held changes nothing.
    await a.lease.resign(7, 'not this term', 60_000);
    expect(a.lease.token).toBe(1);

    await a.lease.resign(1, 'the term ended on an error', 60_000);
    expect(a.deposed).toEqual(['the term ended on an error']);
    expect(await a.redis.get('rules:lease')).toBeNull();
    // Another node takes it at once; the one that resigned does not try for its pause.
    const b = await node('b');
    await elect(b);
    expect(b.lease.token).toBe(2);
    // Free again: for three lease periods (of its pause of a minute) the node that resigned asks not.
    await b.lease.stop();
    const elected = await Promise.race([
      a.next().then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 3 * TTL_MS)),
    ]);
    expect(elected).toBe(false);
    expect(a.terms).toEqual([1]);
  });

  it('refuses the writes of a leader whose term has passed, and tells it so at its next renewal', async () => {
    const a = await node('a');
    const old = (await elect(a)).lease.token!;
    // Awaited from now: a renews every 200 ms, and may be told before the writes below are done.
    const deposed = a.next();
    // a stalls past its lease (the key expires); b takes over meanwhile.
    await a.redis.del('rules:lease');
    const b = await node('b');
    await elect(b);
    expect(b.lease.token).toBe(old + 1);

    const write = `${FENCE_CHECK}\nreturn redis.call('SET', KEYS[2], ARGV[2])`;
    const fenced = (r: Redis, token: number, value: string) => r.eval(write, 2, FENCE_KEY, 'alerts', token, value);
    await expect(fenced(a.redis, old, 'from a')).rejects.toThrow('fenced: a later rules term has begun');
    await expect(fenced(b.redis, b.lease.token!, 'from b')).resolves.toBe('OK');
    expect(await b.redis.get('alerts')).toBe('from b');

    await deposed;
    expect(a.deposed).toEqual(['another node holds the rules lease']);
    expect(a.lease.token).toBeUndefined();
  });

  it('steps down on its own clock when Redis stops answering, before the lease could pass to another node', async () => {
    const a = await node('a');
    await elect(a);
    const heldUntilPause = performance.now();
    server.pause();
    try {
      await a.next();
      // It gave up within the lease, while Redis still held it for a: no two leaders at once.
      expect(a.deposedAt! - heldUntilPause).toBeLessThan(TTL_MS);
      expect(a.deposed).toEqual(['the rules lease could not be renewed in time (Redis unreachable or slow)']);
    } finally {
      server.resume();
    }
    await a.next();
    expect(a.terms).toEqual([1, 2]);
  });

  it('keeps counting terms across a Redis restart', async () => {
    const a = await node('a');
    await elect(a);
    await a.lease.stop();
    await server.stop();
    await server.start();
    a.redis.disconnect();
    const b = await node('b');
    await elect(b);
    expect(b.lease.token).toBe(2);
  });
});
