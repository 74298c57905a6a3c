import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EntryForwarder, streamKey } from '../hub/cluster/forwarder.ts';
import { Journal } from '../hub/journal/journal.ts';
import { eventually } from './support/hub.ts';
import { journalFixtures, range, reading } from './support/journal.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

let server: RedisHandle;
let admin: Redis;
const { tempDir, openJournal } = journalFixtures((options) => Journal.open(options));

/** A connection as a node uses it for forwarding: no offline queue, so an outage is an error the journal retries. */
function connect(): Redis {
  const redis = new Redis(server.url, {
    keyPrefix: 'fw:',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
  });
  redis.on('error', () => undefined);
  return redis;
}
const connections: Redis[] = [];

async function forwarding(node: string, maxEntries = 100_000) {
  const redis = connect();
  connections.push(redis);
  await new Promise((resolve) => redis.once('ready', resolve));
  const journal = await openJournal({ dir: await tempDir(), fsync: false });
  const forwarder = new EntryForwarder({ redis, node, maxEntries });
  const consumer = journal.consume('cluster', forwarder.forward, { transient: () => true, maxBackoffMs: 200 });
  return { journal, forwarder, consumer };
}

/** The LSNs in a node's stream, in stream order. */
async function streamed(node: string): Promise<number[]> {
  const rows = await admin.xrange(`fw:${streamKey(node)}`, '-', '+');
  return rows.map(([id]) => Number(id.split('-')[0]));
}

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
});
afterEach(async () => {
  for (const c of connections.splice(0)) c.disconnect();
  await admin.flushall();
});
afterAll(async () => {
  admin.disconnect();
  await server.dispose();
});

describe("a node's journal forwarded to Redis", () => {
  it('adds every durable entry to the node stream once, in order, under its LSN', async () => {
    const { journal, consumer } = await forwarding('node-a');
    for (let i = 1; i <= 500; i++) await journal.append([reading(i)]);
    await eventually(async () => (await streamed('node-a')).length === 500 || undefined, {
      what: '500 entries in the stream',
    });
    expect(await streamed('node-a')).toEqual(range(1, 500));
    const [, fields] = (await admin.xrange(`fw:${streamKey('node-a')}`, '42-0', '42-0'))[0] ?? [];
    expect(JSON.parse(fields?.[1] ?? 'null')).toEqual(reading(42));
    await consumer.stop();
  });

  it('keeps acknowledging appends while Redis does not answer, and forwards them all once it does', async () => {
    const { journal, consumer } = await forwarding('node-b');
    for (let i = 1; i <= 100; i++) await journal.append([reading(i)]);
    await eventually(async () => (await streamed('node-b')).length === 100 || undefined, { what: 'the first 100' });
    server.pause();
    try {
      for (let i = 101; i <= 300; i++) await journal.append([reading(i)]);
      expect(journal.status().durableLsn).toBe(300);
    } finally {
      server.resume();
    }
    await eventually(async () => (await streamed('node-b')).length === 300 || undefined, {
      what: 'all 300 after Redis answered again',
      timeoutMs: 20_000,
    });
    expect(await streamed('node-b')).toEqual(range(1, 300));
    await consumer.stop();
  });

  it('skips what the stream already holds when entries are handed over again', async () => {
    const { journal, forwarder, consumer } = await forwarding('node-c');
    const entries = range(1, 50).map((i) => reading(i));
    for (const e of entries) await journal.append([e]);
    await eventually(async () => (await streamed('node-c')).length === 50 || undefined, { what: '50 entries' });
    await consumer.stop();
    expect(forwarder.lastForwarded).toBe(50);
    // A node that lost its position (a crash before it was saved) forwards from the start again.
    const again = new EntryForwarder({ redis: connections[0]!, node: 'node-c', maxEntries: 100_000 });
    await again.forward(entries.slice(0, 30), 30);
    await again.forward(entries, 50);
    await again.forward([reading(51)], 51);
    expect(await streamed('node-c')).toEqual(range(1, 51));
  });

  it('keeps the stream within its bound when no leader reads it', async () => {
    const { journal, consumer } = await forwarding('node-d', 100);
    for (let i = 1; i <= 1000; i++) await journal.append([reading(i)]);
    await eventually(async () => (await streamed('node-d')).at(-1) === 1000 || undefined, { what: 'the 1000th entry' });
    const kept = await streamed('node-d');
    expect(kept.length).toBeLessThan(300);
    expect(kept).toEqual(range(1001 - kept.length, 1000));
    await consumer.stop();
  });
});
