import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StateMirror } from '../hub/cluster/state-mirror.ts';
import { Outbox } from '../hub/notify/outbox.ts';
import { AlertLedger } from '../hub/rules/ledger.ts';
import { storedAlert } from './rules-fixtures.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

let server: RedisHandle;
let redis: Redis;
let subscriber: Redis;
let dir: string;
const CHANNEL = 'fw:rules:state';
const opened: AlertLedger[] = [];

/** A hub's rules ledger, with the outbox's table, mirrored through the test's Redis. */
function hub(name: string, log?: pino.Logger): { ledger: AlertLedger; mirror: StateMirror; outbox: Outbox } {
  const ledger = new AlertLedger(join(dir, `${name}.sqlite`));
  opened.push(ledger);
  const outbox = new Outbox({
    db: ledger.db,
    targets: [{ name: 'webhook', batch: 10, deliver: () => Promise.resolve() }],
    log: pino({ level: 'silent' }),
    now: () => 0,
    retryFirstMs: 10,
    retryMaxMs: 10,
    maxWaiting: 10_000,
  });
  return { ledger, outbox, mirror: new StateMirror({ db: ledger.db, redis, channel: CHANNEL, ...(log && { log }) }) };
}

/** Hub a, leading term 1, with alert 1 copied to Redis. */
async function leadingWithOneAlert(): Promise<ReturnType<typeof hub>> {
  await redis.set('rules:term', 1);
  const a = hub('a');
  a.mirror.lead(1);
  a.ledger.saveAlert(storedAlert(1));
  await a.mirror.settled();
  return a;
}

function outboxIds(ledger: AlertLedger): number[] {
  return (ledger.db.prepare('SELECT id FROM outbox ORDER BY id').all() as { id: number }[]).map((r) => r.id);
}

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { keyPrefix: 'fw:' });
  subscriber = new Redis(server.url);
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'floorwatch-mirror-'));
});
afterEach(async () => {
  for (const l of opened.splice(0)) l.close();
  rmSync(dir, { recursive: true, force: true });
  await redis.flushall();
});
afterAll(async () => {
  redis.disconnect();
  subscriber.disconnect();
  await server.dispose();
});

describe("the rules' state shared through Redis", () => {
  it('copies what the leader commits, and a hub that loads it holds the same alerts, silences, notifications and positions', async () => {
    await redis.set('rules:term', 1);
    const a = hub('a');
    a.mirror.lead(1);
    a.ledger.transaction(() => {
      a.ledger.saveAlert(storedAlert(1));
      a.ledger.saveAlert(storedAlert(2));
      a.ledger.addEvent({
        alertId: 1,
        key: storedAlert(1).key,
        kind: 'firing',
        at: 3000,
        alert: storedAlert(1),
        notified: true,
      });
      a.ledger.saveSilence({
        id: 1,
        matchers: { zone: 'floor-1' },
        startsAt: 0,
        endsAt: 9000,
        createdBy: 'ops',
        comment: 'maintenance',
        createdAt: 0,
      });
      a.ledger.setMeta('lsn', '42');
      a.outbox.enqueue('webhook', '{"n":1}');
    });
    await a.mirror.settled();

    const b = hub('b');
    const loaded = await b.mirror.load();
    expect(loaded).toMatchObject({ version: 1, damaged: 0 });
    expect(b.ledger.alerts({}).map((x) => x.id)).toEqual([2, 1]);
    expect(b.ledger.events(1).map((e) => e.kind)).toEqual(['firing']);
    expect(b.ledger.silences().map((s) => s.id)).toEqual([1]);
    expect(b.ledger.meta('lsn')).toBe('42');
    expect(outboxIds(b.ledger)).toEqual([1]);
  });

  it('keeps a replica current from the announced copies, and loads again when it missed one', async () => {
    await redis.set('rules:term', 1);
    const a = hub('a');
    const b = hub('b');
    await b.mirror.load();
    const applied: boolean[] = [];
    const heard = new Promise<void>((resolve) => {
      const listener = (_channel: string, message: string) => {
        applied.push(b.mirror.apply(message));
        if (applied.length < 2) return;
        subscriber.off('message', listener);
        resolve();
      };
      subscriber.on('message', listener);
    });
    await subscriber.subscribe(CHANNEL);
    a.mirror.lead(1);
    a.ledger.saveAlert(storedAlert(1));
    await a.mirror.settled();
    a.ledger.transaction(() => {
      a.ledger.saveAlert(storedAlert(1, 'resolved'));
      a.ledger.deleteSilence(7);
      a.ledger.saveAlert(storedAlert(3));
    });
    await a.mirror.settled();
    await heard;
    expect(applied).toEqual([true, true]);
    expect(b.ledger.alerts({}).map((x) => [x.id, x.state])).toEqual([
      [3, 'firing'],
      [1, 'resolved'],
    ]);
    expect(b.mirror.held).toBe(2);
    // A copy that skips one is refused: the replica must load the whole state again.
    expect(b.mirror.apply(`4 ${JSON.stringify({ rows: [], sequences: {} })}`)).toBe(false);
    // So is the next one when it is damaged, and nothing of it is applied: it never throws, since
    // it runs in the Redis client's message handler.
    for (const damaged of [
      'not json',
      JSON.stringify({ rows: 5 }),
      JSON.stringify({ rows: [['alerts', 3, null], 7] }),
      JSON.stringify({ rows: [['alerts', 3, null]], sequences: 'x' }),
    ])
      expect(b.mirror.apply(`3 ${damaged}`)).toBe(false);
    expect(b.mirror.held).toBe(2);
    expect(b.ledger.alerts({}).map((x) => x.id)).toEqual([3, 1]);
    a.ledger.deleteAlert(3);
    await a.mirror.settled();
    await b.mirror.load();
    expect(b.ledger.alerts({}).map((x) => x.id)).toEqual([1]);
  });

  it("refuses a deposed leader's copy, and its successor carries on from the last copy that was taken", async () => {
    const a = await leadingWithOneAlert();
    // Another hub's term begins; the old leader goes on writing.
    await redis.set('rules:term', 2);
    a.ledger.saveAlert(storedAlert(1, 'resolved'));
    await expect(a.mirror.settled()).rejects.toThrow('fenced: a later rules term has begun');
    const b = hub('b');
    await b.mirror.load();
    expect(b.ledger.alert(1)?.state).toBe('firing');
  });

  it('sends the rows of a copy Redis did not take with the next one', async () => {
    await redis.set('rules:term', 1);
    const a = hub('a');
    a.mirror.lead(1);
    a.ledger.saveAlert(storedAlert(1));
    await a.mirror.settled();
    const cut = new Redis(server.url, { keyPrefix: 'fw:', commandTimeout: 200 });
    cut.on('error', () => undefined);
    await cut.ping();
    server.pause();
    const mirror = new StateMirror({ db: a.ledger.db, redis: cut, channel: CHANNEL });
    mirror.lead(1);
    a.ledger.saveAlert(storedAlert(1, 'resolved'));
    await expect(mirror.settled()).rejects.toThrow();
    server.resume();
    cut.disconnect();
    a.ledger.saveAlert(storedAlert(2));
    await a.mirror.settled();
    const b = hub('b');
    await b.mirror.load();
    expect(b.ledger.alerts({}).map((x) => [x.id, x.state])).toEqual([
      [2, 'firing'],
      [1, 'resolved'],
    ]);
  });

  it('never hands out a delivery id twice: the counters travel with the rows', async () => {
    await redis.set('rules:term', 1);
    const a = hub('a');
    a.mirror.lead(1);
    a.outbox.enqueue('webhook', '{"n":1}');
    a.outbox.enqueue('webhook', '{"n":2}');
    await a.mirror.settled();
    // Both delivered: the rows go, the counter stays at 2.
    a.ledger.db.prepare('DELETE FROM outbox').run();
    await a.mirror.settled();
    const b = hub('b');
    await b.mirror.load();
    expect(outboxIds(b.ledger)).toEqual([]);
    b.mirror.lead(1);
    b.outbox.enqueue('webhook', '{"n":3}');
    expect(outboxIds(b.ledger)).toEqual([3]);
  });

  it('takes from Redis only the columns its tables have, whatever a row names', async () => {
    await redis.hset(
      'rules:state:table:meta',
      '1',
      JSON.stringify({ name: 'lsn', value: '7', __proto__: 'x', constructor: 'y', toString: 'z', 'value") --': 'w' }),
    );
    const b = hub('b');
    await b.mirror.load();
    expect(b.ledger.meta('lsn')).toBe('7');
  });

  it('loads without the rows that are not ones, and says so, so that no term is kept from starting', async () => {
    await leadingWithOneAlert();
    await redis.hset('rules:state:table:meta', '9', 'not json');
    await redis.hset('rules:state:table:meta', 'x', JSON.stringify({ name: 'lsn', value: '7' }));
    await redis.hset('rules:state:table:meta', '10', JSON.stringify({ name: 'positions', value: { nested: 1 } }));
    const lines: string[] = [];
    const b = hub('b', pino({ level: 'error' }, { write: (line: string) => void lines.push(line) }));
    expect(await b.mirror.load()).toMatchObject({ version: 1, damaged: 3 });
    expect(b.ledger.alerts({}).map((x) => x.id)).toEqual([1]);
    expect(b.ledger.meta('lsn')).toBeUndefined();
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      "the rules' state in Redis holds 3 rows that are not ones; loaded without them",
    ]);
  });
  it('says why a load failed, and when to try again: after 1 s, doubling, until one succeeds', async () => {
    await leadingWithOneAlert();
    await redis.del('rules:state:version');
    await redis.hset('rules:state:version', 'not', 'a version');
    let t = 0;
    const ledger = new AlertLedger(join(dir, 'c.sqlite'));
    opened.push(ledger);
    const mirror = new StateMirror({ db: ledger.db, redis, channel: CHANNEL, now: () => t });
    expect([mirror.unreadable, mirror.loadDue()]).toEqual([undefined, false]);
    await expect(mirror.load()).rejects.toThrow(/WRONGTYPE/);
    expect(mirror.unreadable).toMatch(/^WRONGTYPE/);
    expect(mirror.loadDue()).toBe(false);
    t = 1000;
    expect(mirror.loadDue()).toBe(true);
    await expect(mirror.load()).rejects.toThrow(/WRONGTYPE/);
    t = 2999;
    expect(mirror.loadDue()).toBe(false);
    t = 3000;
    expect(mirror.loadDue()).toBe(true);

    await redis.del('rules:state:version');
    await mirror.load();
    expect([mirror.unreadable, mirror.loadDue()]).toEqual([undefined, false]);
  });
});
