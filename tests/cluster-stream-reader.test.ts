import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EntryForwarder } from '../hub/cluster/forwarder.ts';
import { savedPositions, StreamReader, type ForwardedEntry } from '../hub/cluster/stream-reader.ts';
import { range, reading } from './support/journal.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

let server: RedisHandle;
let redis: Redis;

/** Forwards entries 1..count of a node, as its journal's consumer would. */
async function forward(node: string, from: number, to: number): Promise<void> {
  const forwarder = new EntryForwarder({ redis, node, maxEntries: 100_000 });
  await forwarder.forward(
    range(from, to).map((i) => reading(i)),
    to,
  );
}

function reader(token: number, seen: Array<[string, number]>, fail?: (node: string) => boolean): StreamReader {
  return new StreamReader({
    redis,
    nodes: ['node-a', 'node-b'],
    token,
    batch: 100,
    handle: (node, entries: ForwardedEntry[]) => {
      if (fail?.(node)) throw new Error(`the rules could not handle ${node}'s entries`);
      for (const e of entries) {
        expect(e.entry).toEqual(reading(e.lsn));
        seen.push([node, e.lsn]);
      }
    },
  });
}

/** Reads until nothing is left. */
async function drain(r: StreamReader): Promise<void> {
  while ((await r.readOnce()) > 0);
}

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { keyPrefix: 'fw:' });
});
afterEach(async () => {
  await redis.flushall();
});
afterAll(async () => {
  redis.disconnect();
  await server.dispose();
});

describe("the rules leader's reading of every node's stream", () => {
  it('hands over each node’s entries in order, and a next leader continues where the positions say', async () => {
    await redis.set('rules:term', 1);
    await forward('node-a', 1, 250);
    await forward('node-b', 1, 40);
    const seen: Array<[string, number]> = [];
    await drain(reader(1, seen));
    expect(seen.filter(([n]) => n === 'node-a').map(([, l]) => l)).toEqual(range(1, 250));
    expect(seen.filter(([n]) => n === 'node-b').map(([, l]) => l)).toEqual(range(1, 40));
    expect(await savedPositions(redis, ['node-a', 'node-b'])).toEqual(
      new Map([
        ['node-a', 250],
        ['node-b', 40],
      ]),
    );

    await forward('node-b', 41, 45);
    await redis.set('rules:term', 2);
    const next: Array<[string, number]> = [];
    await drain(reader(2, next));
    expect(next).toEqual(range(41, 45).map((l) => ['node-b', l]));
  });

  it('refuses to move the positions for a leader whose term has passed, so its successor misses nothing', async () => {
    await redis.set('rules:term', 1);
    await forward('node-a', 1, 10);
    const old = reader(1, []);
    await drain(old);
    await forward('node-a', 11, 20);
    // Another node took the lease meanwhile.
    await redis.set('rules:term', 2);
    await expect(old.readOnce()).rejects.toThrow('fenced: a later rules term has begun');
    expect((await savedPositions(redis, ['node-a'])).get('node-a')).toBe(10);
    const seen: Array<[string, number]> = [];
    await drain(reader(2, seen));
    expect(seen).toEqual(range(11, 20).map((l) => ['node-a', l]));
  });

  it('keeps a position where it was when the rules fail, and hands the entries over again', async () => {
    await redis.set('rules:term', 1);
    await forward('node-a', 1, 5);
    await forward('node-b', 1, 5);
    const seen: Array<[string, number]> = [];
    await expect(drain(reader(1, seen, (n) => n === 'node-b'))).rejects.toThrow("could not handle node-b's entries");
    expect(await savedPositions(redis, ['node-a', 'node-b'])).toEqual(
      new Map([
        ['node-a', 5],
        ['node-b', 0],
      ]),
    );
    const again: Array<[string, number]> = [];
    await drain(reader(1, again));
    expect(again).toEqual(range(1, 5).map((l) => ['node-b', l]));
  });
});
