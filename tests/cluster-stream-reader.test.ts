import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EntryForwarder } from '../hub/cluster/forwarder.ts';
import { StreamReader } from '../hub/cluster/stream-reader.ts';
import { range, reading } from './support/journal.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

let server: RedisHandle;
let redis: Redis;

/** Forwards entries from..to of a node, as its journal's consumer would. */
async function forward(node: string, from: number, to: number): Promise<void> {
  const forwarder = new EntryForwarder({ redis, node, maxEntries: 100_000 });
  await forwarder.forward(
    range(from, to).map((i) => reading(i)),
    to,
  );
}

/** Reads until nothing is left, moving the positions as a leader would; returns what was read. */
async function drain(reader: StreamReader, positions: Map<string, number>): Promise<Array<[string, number]>> {
  const seen: Array<[string, number]> = [];
  for (;;) {
    const found = await reader.read(positions);
    if (found.size === 0) return seen;
    for (const [node, entries] of found) {
      for (const e of entries) {
        expect(e.entry).toEqual(reading(e.lsn));
        seen.push([node, e.lsn]);
      }
      positions.set(node, entries.at(-1)!.lsn);
    }
  }
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
  it('hands over each node’s entries in order from the positions given, so a next leader continues where the saved ones say', async () => {
    await forward('node-a', 1, 250);
    await forward('node-b', 1, 40);
    const reader = new StreamReader({ redis, batch: 100 });
    const positions = new Map([
      ['node-a', 0],
      ['node-b', 0],
    ]);
    const seen = await drain(reader, positions);
    expect(seen.filter(([n]) => n === 'node-a').map(([, l]) => l)).toEqual(range(1, 250));
    expect(seen.filter(([n]) => n === 'node-b').map(([, l]) => l)).toEqual(range(1, 40));

    await forward('node-b', 41, 45);
    const next = await drain(
      new StreamReader({ redis }),
      new Map([
        ['node-a', 250],
        ['node-b', 40],
      ]),
    );
    expect(next).toEqual(range(41, 45).map((l) => ['node-b', l]));
  });

  it('waits for news up to the time given, and answers as soon as an entry is forwarded', async () => {
    const blocking = new Redis(server.url, { keyPrefix: 'fw:' });
    try {
      const reader = new StreamReader({ redis: blocking, blockMs: 10_000 });
      const waiting = reader.read(new Map([['node-a', 0]]));
      await forward('node-a', 1, 1);
      expect((await waiting).get('node-a')?.map((e) => e.lsn)).toEqual([1]);
      const quiet = await new StreamReader({ redis: blocking, blockMs: 50 }).read(new Map([['node-a', 1]]));
      expect(quiet.size).toBe(0);
    } finally {
      blocking.disconnect();
    }
  });
});
