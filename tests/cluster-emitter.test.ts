import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type { Message } from 'mqemitter';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterEmitter } from '../hub/cluster/emitter.ts';
import { eventually } from './support/hub.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

/** How mqemitter-redis encodes what it publishes. */
const { encode } = createRequire(import.meta.url)('msgpack-lite') as { encode: (value: unknown) => Buffer };

let server: RedisHandle;
const emitters: ClusterEmitter[] = [];

interface Node {
  bus: ClusterEmitter;
  notSent: string[];
  /** Messages a listener on `site/#` got, as topic=payload. */
  heard: string[];
  /** What came on the bus's channels that was not a message. */
  unreadable: unknown[];
  /** The connection it receives on. */
  sub: Redis;
}

async function node(name: string, prefix = 'floor', maxInFlight = 1000): Promise<Node> {
  // Connected as the hub connects them (broker-state.ts).
  const pub = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const sub = new Redis(server.url, { lazyConnect: true });
  for (const c of [pub, sub]) c.on('error', () => undefined);
  await Promise.all([pub.connect(), sub.connect()]);
  const n: Node = { notSent: [], heard: [], unreadable: [], sub, bus: undefined as unknown as ClusterEmitter };
  n.bus = new ClusterEmitter({
    node: name,
    prefix,
    pub,
    sub,
    maxInFlight,
    onNotSent: (reason) => n.notSent.push(reason),
    onUnreadable: (err) => n.unreadable.push(err),
    closeTimeoutMs: 500,
  });
  emitters.push(n.bus);
  await new Promise<void>((resolve) =>
    n.bus.on(
      'site/#',
      (m: Message, done) => {
        n.heard.push(`${m.topic}=${String(m.payload)}`);
        done();
      },
      resolve,
    ),
  );
  return n;
}

function emit(n: Node, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) =>
    n.bus.emit({ topic, payload: Buffer.from(payload) }, (err) => (err ? reject(err) : resolve())),
  );
}

/** Waits until Redis has a subscriber for each node's channels. */
async function subscribed(count: number): Promise<void> {
  const admin = new Redis(server.url);
  // PUBSUB NUMPAT counts distinct patterns; each node's connection says how many it holds.
  const held = async () =>
    [...String(await admin.call('CLIENT', 'LIST')).matchAll(/ psub=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  await eventually(async () => (await held()) >= count || undefined, { what: `${count} pattern subscriptions` });
  admin.disconnect();
}

beforeAll(async () => {
  server = await startRedis();
});
afterEach(async () => {
  await Promise.all(emitters.splice(0).map((e) => new Promise<void>((resolve) => e.close(resolve))));
});
afterAll(async () => {
  await server.dispose();
});

describe('the broker bus of a cluster', () => {
  it("carries a node's message to every node, once each, its own subscribers served by itself", async () => {
    const a = await node('a');
    const b = await node('b');
    await subscribed(2);
    await emit(a, 'site/devices/t-1/telemetry', '{"temperature":22.5}');
    await eventually(() => b.heard.length > 0 || undefined, { what: 'the message on node b' });
    await emit(b, 'site/hub/status', 'online');
    await eventually(() => a.heard.length > 1 || undefined, { what: "node b's message on node a" });
    const both = ['site/devices/t-1/telemetry={"temperature":22.5}', 'site/hub/status=online'];
    expect(a.heard).toEqual(both);
    expect(b.heard).toEqual(both);
  });

  it("hands a message from another node to its subscribers once, however many of the node's filters it matches", async () => {
    const a = await node('a');
    const b = await node('b');
    // Besides 'site/#': a pattern and an exact topic, which Redis holds as a pattern and a channel.
    const also: string[] = [];
    for (const filter of ['site/+/status', 'site/hub/status'])
      await new Promise<void>((resolve) =>
        b.bus.on(
          filter,
          (m: Message, done) => {
            also.push(`${filter} ${m.topic}`);
            done();
          },
          resolve,
        ),
      );
    await subscribed(3);
    const admin = new Redis(server.url);
    await eventually(
      async () =>
        ((await admin.call('PUBSUB', 'NUMSUB', 'floor/mqtt/site/hub/status')) as [string, number])[1] === 1 ||
        undefined,
      { what: 'the exact topic in Redis' },
    );
    admin.disconnect();
    await emit(a, 'site/hub/status', 'online');
    await emit(a, 'site/hub/status', 'online');
    await emit(a, 'site/after', 'last');
    await eventually(() => b.heard.includes('site/after=last') || undefined, { what: 'the last message on node b' });
    expect(b.heard).toEqual(['site/hub/status=online', 'site/hub/status=online', 'site/after=last']);
    expect(also.sort()).toEqual([
      'site/+/status site/hub/status',
      'site/+/status site/hub/status',
      'site/hub/status site/hub/status',
      'site/hub/status site/hub/status',
    ]);
  });

  it('serves its own subscribers while Redis does not answer, and sends at most its bound of copies meanwhile', async () => {
    const a = await node('a', 'floor', 10);
    const b = await node('b', 'floor', 10);
    await subscribed(2);
    server.pause();
    try {
      for (let i = 1; i <= 100; i++) await emit(a, `site/seq/${i}`, String(i));
      expect(a.heard).toHaveLength(100);
      expect(a.bus.waiting).toBe(10);
      expect(a.notSent).toEqual(Array<string>(90).fill('busy'));
    } finally {
      server.resume();
    }
    await eventually(() => a.bus.waiting === 0 || undefined, { what: 'the waiting copies sent' });
    await emit(a, 'site/after', 'back');
    await eventually(() => b.heard.includes('site/after=back') || undefined, {
      what: 'a message after Redis answered again',
    });
    expect(b.heard.filter((h) => h.startsWith('site/seq/'))).toEqual(
      Array.from({ length: 10 }, (_, i) => `site/seq/${i + 1}=${i + 1}`),
    );
  });

  it('ignores, and tells of, what is not a message on its channels', async () => {
    const a = await node('a');
    const b = await node('b');
    await subscribed(2);
    const admin = new Redis(server.url);
    // Anyone who may write to the Redis may publish on the bus's channels.
    await admin.publish('floor/mqtt/site/x', 'not a message');
    // Well-formed for the bus, but no message of a broker: a topic and no payload, more of them
    // than the node hands its subscribers at once.
    for (let i = 0; i < 150; i++)
      await admin.publish('floor/mqtt/site/x', encode({ id: `forged-${i}`, msg: { topic: 'floor/mqtt/site/x' } }));
    await eventually(() => b.unreadable.length > 150 || undefined, { what: 'the foreign messages told of' });
    admin.disconnect();
    await emit(a, 'site/after', 'still carried');
    await eventually(() => b.heard.includes('site/after=still carried') || undefined, { what: 'the next message' });
    expect(b.heard).toEqual(['site/after=still carried']);
  });

  it('lives through Redis stopping and starting again, and carries messages once it is back', async () => {
    const a = await node('a');
    const b = await node('b');
    await subscribed(2);
    // Stopped, not paused: the connections fail and are refused, which each connection reports as an error.
    await server.stop();
    await emit(a, 'site/during', 'served here');
    await server.start();
    await subscribed(2);
    await emit(a, 'site/after', 'back');
    await eventually(() => b.heard.includes('site/after=back') || undefined, { what: 'a message once Redis is back' });
    expect(a.heard).toEqual(['site/during=served here', 'site/after=back']);
  });

  it('asks Redis, once it is back, for what its subscribers changed meanwhile, not for every change', async () => {
    const b = await node('b');
    await subscribed(1);
    await server.stop();
    await eventually(() => b.sub.status !== 'ready' || undefined, { what: 'the node to see Redis gone' });
    const listener = (m: Message, done: () => void) => {
      b.heard.push(`final ${m.topic}`);
      done();
    };
    // A device reconnecting in a loop while Redis is away: its filter comes and goes.
    for (let i = 0; i < 500; i++) {
      b.bus.on('churn/#', listener);
      b.bus.removeListener('churn/#', listener);
    }
    b.bus.on('final/#', listener);
    await server.start();
    await subscribed(2);
    const a = await node('a');
    await emit(a, 'final/word', 'heard');
    await eventually(() => b.heard.includes('final final/word') || undefined, { what: 'the filter asked once back' });
    // A Redis started afresh counts the commands since: the node's two filters, asked once each (and a's).
    const admin = new Redis(server.url);
    const stats = String(await admin.call('INFO', 'commandstats'));
    admin.disconnect();
    const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(calls('psubscribe')).toBeLessThanOrEqual(3);
    expect(calls('punsubscribe')).toBe(0);
  });

  it('keeps clusters that share one Redis apart', async () => {
    const a = await node('a', 'building-1');
    const other = await node('a', 'building-2');
    const b = await node('b', 'building-1');
    await subscribed(3);
    await emit(other, 'site/x', 'other cluster');
    await emit(a, 'site/y', 'this cluster');
    await eventually(() => b.heard.length > 0 || undefined, { what: 'the message in building-1' });
    expect(b.heard).toEqual(['site/y=this cluster']);
  });

  it('asks Redis only for the topics its subscribers want, so a node hears only what someone on it wants', async () => {
    const a = await node('a');
    const b = await node('b');
    await subscribed(2);
    const admin = new Redis(server.url);
    const patterns = async () => (await admin.call('PUBSUB', 'NUMPAT')) as number;
    const before = await patterns();
    const listener = (m: Message, done: () => void) => {
      b.heard.push(`alarm ${m.topic}`);
      done();
    };
    await new Promise<void>((resolve) => b.bus.on('alarms/#', listener, resolve));
    await eventually(async () => (await patterns()) === before + 1 || undefined, { what: 'the pattern in Redis' });
    await emit(a, 'alarms/fire', 'on');
    await eventually(() => b.heard.includes('alarm alarms/fire') || undefined, { what: 'the alarm on node b' });
    // The last subscriber gone, Redis stops sending the topic to the node.
    b.bus.removeListener('alarms/#', listener);
    await eventually(async () => (await patterns()) === before || undefined, { what: 'the pattern gone from Redis' });
    admin.disconnect();
  });

  it('closes within its time limit when Redis does not answer', async () => {
    const a = await node('a');
    emitters.splice(emitters.indexOf(a.bus), 1);
    server.pause();
    try {
      const started = performance.now();
      await new Promise<void>((resolve) => a.bus.close(resolve));
      // The node's limit is 500 ms; the rest is slack for a busy machine.
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      server.resume();
    }
  });
});
