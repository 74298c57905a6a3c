import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { streamKey } from '../hub/cluster/forwarder.ts';
import { StreamReader } from '../hub/cluster/stream-reader.ts';
import { range, reading } from './support/journal.ts';
import { forwardReadings, redisForTests } from './support/redis.ts';

const { server, redis } = await redisForTests();
const forward = (node: string, from: number, to: number) => forwardReadings(redis, node, from, to);

/** Reads until nothing is left, moving the positions as a leader would; returns what was read. */
async function drain(reader: StreamReader, positions: Map<string, number>): Promise<Array<[string, number]>> {
  const seen: Array<[string, number]> = [];
  for (;;) {
    const found = await reader.read(positions);
    if (found.size === 0) return seen;
    for (const [node, { entries, through }] of found) {
      for (const e of entries) {
        expect(e.entry).toEqual(reading(e.lsn));
        seen.push([node, e.lsn]);
      }
      expect(through).toBe(entries.at(-1)!.lsn);
      positions.set(node, through);
    }
  }
}

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
      expect((await waiting).get('node-a')?.entries.map((e) => e.lsn)).toEqual([1]);
      const quiet = await new StreamReader({ redis: blocking, blockMs: 50 }).read(new Map([['node-a', 1]]));
      expect(quiet.size).toBe(0);
    } finally {
      blocking.disconnect();
    }
  });

  it('passes over what is not an entry, telling which and why, and moves past it, so the entries behind it go on', async () => {
    await forward('node-a', 1, 3);
    const key = streamKey('node-a');
    const bad = [
      'not json',
      JSON.stringify({
        type: 'readings',
        readings: [{ metric: 'noise', value: 40, ts: 5, zone: '', device: '__proto__' }],
      }),
      JSON.stringify({ type: 'constructor' }),
      'null',
      JSON.stringify({ type: 'heartbeat', heartbeat: { device: { toString: 'x' } } }),
    ];
    for (const [i, text] of bad.entries()) await redis.xadd(key, `${4 + i}-0`, 'entry', text);
    await forward('node-a', 9, 10);
    const told: Array<[string, number, string]> = [];
    const reader = new StreamReader({ redis, onMalformed: (node, lsn, why) => told.push([node, lsn, why]) });

    const found = await reader.read(new Map([['node-a', 0]]));
    const { entries, through } = found.get('node-a')!;
    expect(entries.map((e) => e.lsn)).toEqual([1, 2, 3, 9, 10]);
    for (const e of entries) expect(e.entry).toEqual(reading(e.lsn));
    expect(through).toBe(10);
    expect(told.map(([node, lsn]) => [node, lsn])).toEqual(range(4, 8).map((lsn) => ['node-a', lsn]));
    expect(told.map(([, , why]) => why)).toEqual([
      'is not a JSON object',
      'a reading: device "__proto__" is not a valid id',
      'type "constructor" is not one the journal carries',
      'is not a JSON object',
      'heartbeat device of type object is not a valid id',
    ]);

    // A read that finds only what is not an entry still moves the position past it.
    await redis.xadd(key, '11-0', 'entry', '{');
    const after = (await reader.read(new Map([['node-a', 10]]))).get('node-a');
    expect(after).toEqual({ entries: [], through: 11 });

    // A row under an LSN already read, from another writer, is read once, not at every read.
    await forward('node-a', 12, 12);
    await redis.xadd(key, '12-5', 'entry', 'x');
    const twelve = (await reader.read(new Map([['node-a', 11]]))).get('node-a');
    expect(twelve?.entries.map((e) => e.lsn)).toEqual([12]);
    expect(twelve?.through).toBe(12);
    expect((await reader.read(new Map([['node-a', 12]]))).size).toBe(0);
  });

  it('passes over a heartbeat, a status or a forgetting whose fields are not what the journal carries', async () => {
    const heartbeat = { device: 'h-1', zone: 'floor-a', ts: 5, status: 'ok', components: {} };
    const bad: Array<[unknown, string]> = [
      [{ type: 'heartbeat', heartbeat: { ...heartbeat, components: null } }, 'heartbeat components is not an object'],
      [
        // JSON.parse makes "__proto__" an own key, as reading another hub's JSON text would.
        {
          type: 'heartbeat',
          heartbeat: { ...heartbeat, components: JSON.parse('{"__proto__": {"state": "ok"}}') as unknown },
        },
        'heartbeat component "__proto__" is not a valid id',
      ],
      [
        { type: 'heartbeat', heartbeat: { ...heartbeat, components: { mic: { state: 'constructor' } } } },
        'heartbeat component mic state "constructor" is not one of ok, degraded, fault',
      ],
      [
        { type: 'heartbeat', heartbeat: { ...heartbeat, battery: 'full' } },
        'heartbeat battery "full" is not a number from 0 to 100',
      ],
      [
        { type: 'heartbeat', heartbeat: { ...heartbeat, ts: 'now' } },
        'heartbeat time "now" is not a whole number of ms',
      ],
      [
        { type: 'status', status: { subject: 'device', id: 'h-1', zone: 'floor-a', status: 'toString', ts: 5 } },
        'status "toString" is not one of online, offline',
      ],
      [
        { type: 'forgotten', forgotten: { device: 'h-1', by: { name: 'x' }, at: 5 } },
        'forgetting by of type object is not a name of 1 to 100 characters',
      ],
      [
        // A line of its own making in the audit log and the alerts' summaries.
        { type: 'forgotten', forgotten: { device: 'h-1', by: 'li.wei\nalert resolved by admin', at: 5 } },
        'forgetting by "li.wei\\nalert resolved by admin" is not one line of plain text',
      ],
    ];
    await forward('node-b', 1, 1);
    for (const [i, [entry]] of bad.entries())
      await redis.xadd(streamKey('node-b'), `${2 + i}-0`, 'entry', JSON.stringify(entry));
    await forward('node-b', 2 + bad.length, 2 + bad.length);
    const told: string[] = [];
    const found = await new StreamReader({ redis, onMalformed: (_node, _lsn, why) => told.push(why) }).read(
      new Map([['node-b', 0]]),
    );
    expect(found.get('node-b')?.entries.map((e) => e.lsn)).toEqual([1, 2 + bad.length]);
    expect(told).toEqual(bad.map(([, why]) => why));
  });
});
