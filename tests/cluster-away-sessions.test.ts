// What a clean session's connection writes to Redis while Redis is away: owed, not waited for, and
// written once Redis answers for the clients still connected. The real thing, under a Redis that
// is stopped and paused, is in cluster-redis-restart and cluster-redis-outage; this covers the
// cases those cannot reach in order: a client gone before Redis is back, one leaving
// halfway, a new connection of the same id, Redis away again halfway, hostile client ids, and the bound.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AwaySessions, type SessionClient, type SessionWrites } from '../hub/cluster/away-sessions.ts';

class FakeRedis {
  status = 'ready';
  pings = 0;
  answers = false;
  readonly ready: Array<() => void> = [];
  ping(): Promise<'PONG'> {
    this.pings++;
    return this.answers ? Promise.resolve('PONG') : Promise.reject(new Error('Connection is closed.'));
  }
  on(event: string, listener: () => void): this {
    if (event === 'ready') this.ready.push(listener);
    return this;
  }
}

/** A persistence whose writes fail while `redis` is not ready, and which records those that got through. */
function persistence(redis: FakeRedis) {
  const written: string[] = [];
  /** Called before each write reaches the fake Redis: where a test changes its mind. */
  const hooks: { beforeSend?: (what: string) => void } = {};
  const send = (what: string) => async () => {
    hooks.beforeSend?.(what);
    if (redis.status !== 'ready') throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
    written.push(what);
  };
  const writes: SessionWrites = {
    delWill: (c) => send(`remove will ${c.id}`)(),
    cleanSubscriptions: (c) => send(`clean ${c.id}`)(),
    cleanIncoming: (c) => send(`incoming ${c.id}`)(),
    putWill: (c, packet) => send(`will ${c.id} ${(packet as { payload: string }).payload}`)(),
    outgoingStream: async function* (c) {
      await send(`outgoing ${c.id}`)();
      yield { topic: `queued for ${c.id}` };
    },
  };
  return { writes, written, hooks };
}

/**
 * What was written, client by client: each client's writes in the order made. Owed sessions are
 * written several at once, so the writes of different clients interleave.
 */
const byClient = (written: readonly string[]) =>
  [...written].sort((a, b) => a.split(' ')[1]!.localeCompare(b.split(' ')[1]!));

/** What a connection with a will owes, in the order it is written. */
const sessionOf = (id: string) => [`clean ${id}`, `incoming ${id}`, `will ${id} offline`];

function client(id: string, extra: Partial<SessionClient> = {}): SessionClient {
  return {
    id,
    clean: true,
    closed: false,
    will: { payload: 'offline' },
    ...extra,
  };
}

/** A connection's way in, as Aedes makes it: clear the session, the incoming store, the will, then read what waits. */
async function connect(w: SessionWrites, c: SessionClient): Promise<unknown[]> {
  await w.cleanSubscriptions(c);
  await w.cleanIncoming(c);
  if (c.will) await w.putWill(c, c.will);
  const queued: unknown[] = [];
  for await (const p of w.outgoingStream(c)) queued.push(p);
  return queued;
}

function setUp() {
  const redis = new FakeRedis();
  const { writes, written, hooks } = persistence(redis);
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => lines.push((JSON.parse(line) as { msg: string }).msg) },
  );
  const away = new AwaySessions({ conn: redis as never, url: 'redis://127.0.0.1:1', log, probeMs: 1 });
  away.wrap(writes);
  /** Redis answers again; resolves once the owed writes have been made, which the log tells. */
  const back = async () => {
    redis.status = 'ready';
    redis.answers = true;
    const told = lines.length;
    while (!lines.slice(told).some((l) => l.includes('answers again: wrote')))
      await new Promise((r) => setImmediate(r));
  };
  return { redis, writes, written, hooks, lines, away, back };
}

describe('AwaySessions', () => {
  it('sends every write while Redis answers, and owes nothing', async () => {
    const { writes, written, away } = setUp();
    expect(await connect(writes, client('t-1'))).toEqual([{ topic: 'queued for t-1' }]);
    expect(written).toEqual([...sessionOf('t-1'), 'outgoing t-1']);
    expect(away.isAway).toBe(false);
    expect(away.owing).toBe(0);
  });

  it('lets a clean session in while Redis is away and writes its session once Redis answers', async () => {
    const { redis, writes, written, lines, away, back } = setUp();
    redis.status = 'reconnecting';
    expect(await connect(writes, client('t-1'))).toEqual([]);
    expect(away.isAway).toBe(true);
    expect(lines.some((l) => l.includes('devices connecting with a clean session are let in'))).toBe(true);
    // Known to be away, Redis is not asked again for the next one.
    const second = client('t-2');
    expect(await connect(writes, second)).toEqual([]);
    expect(away.owing).toBe(2);
    let presence = 0;
    expect(away.owesPresence('t-2', async () => presence++)).toBe(true);
    expect(away.owesPresence('t-9', async () => presence++)).toBe(false);
    expect(written).toEqual([]);

    await back();
    expect(byClient(written)).toEqual([...sessionOf('t-1'), ...sessionOf('t-2')]);
    expect(presence).toBe(1);
    expect(away.owing).toBe(0);
    expect(lines.at(-1)).toContain('wrote the sessions of 2 devices');
  });

  it('writes the sessions owed several at once, each in its own order, not one round trip after another', async () => {
    const { redis, writes, written, away, back } = setUp();
    redis.status = 'reconnecting';
    const ids = Array.from({ length: 200 }, (_, i) => `t-${String(i).padStart(3, '0')}`);
    for (const id of ids) await connect(writes, client(id));
    expect(away.owing).toBe(200);
    await back();
    // The first writes of many sessions go out before the second write of any.
    expect(written.slice(0, 20).every((w) => w.startsWith('clean '))).toBe(true);
    expect(byClient(written)).toEqual(ids.flatMap(sessionOf));
    expect(away.owing).toBe(0);
  });

  it('writes nothing for a client gone before Redis answers, and no will for one that no longer has one', async () => {
    const { redis, writes, written, back } = setUp();
    redis.status = 'reconnecting';
    const gone = client('t-1');
    const stays = client('t-2');
    const willless = client('t-3');
    for (const c of [gone, stays, willless]) await connect(writes, c);
    gone.closed = true;
    willless.will = null;
    await back();
    expect(byClient(written)).toEqual(['clean t-2', 'incoming t-2', 'will t-2 offline', 'clean t-3', 'incoming t-3']);
  });

  it('keeps what is still owed when Redis goes away again halfway', async () => {
    const { redis, writes, written, hooks, away, back } = setUp();
    redis.status = 'reconnecting';
    // More than are written at once: some sessions are under way when Redis goes, others not begun.
    const ids = Array.from({ length: 100 }, (_, i) => `t-${String(i).padStart(3, '0')}`);
    for (const id of ids) await connect(writes, client(id));
    // Redis answers the probe, then refuses again at the first will.
    let refused = false;
    hooks.beforeSend = (what) => {
      if (refused || !what.startsWith('will')) return;
      refused = true;
      redis.status = 'reconnecting';
      redis.answers = false;
    };
    redis.status = 'ready';
    redis.answers = true;
    while (!refused) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(away.isAway).toBe(true);
    expect(away.owing).toBe(100);
    await back();
    expect(written.filter((w) => w.startsWith('will'))).toEqual(ids.map((id) => `will ${id} offline`));
    expect(away.owing).toBe(0);
  });

  it('stops at a client that leaves while its session is written: its place is not recorded after it has gone', async () => {
    const { redis, writes, written, hooks, away, back } = setUp();
    redis.status = 'reconnecting';
    const leaving = client('t-1');
    await connect(writes, leaving);
    let recorded = 0;
    expect(away.owesPresence('t-1', async () => recorded++)).toBe(true);
    hooks.beforeSend = (what) => {
      if (what === 'will t-1 offline') leaving.closed = true;
    };
    await connect(writes, client('t-2'));
    await back();
    expect(byClient(written)).toEqual([...sessionOf('t-1'), ...sessionOf('t-2')]);
    expect(recorded).toBe(0);
  });

  it('records at once the place of a new connection whose id one gone still owes for', async () => {
    const { redis, writes, away } = setUp();
    redis.status = 'reconnecting';
    const earlier = client('t-1');
    await connect(writes, earlier);
    earlier.closed = true;
    expect(away.owesPresence('t-1', () => Promise.resolve())).toBe(false);
  });

  it('merges what a client owes again while its owed writes were being made when Redis went away again', async () => {
    const { redis, writes, written, hooks, away, back } = setUp();
    redis.status = 'reconnecting';
    const z = client('t-1');
    await writes.cleanSubscriptions(z);
    expect(away.owing).toBe(1);
    // As its clean-up is written, Redis goes away, and its connection's next write fails for it.
    let flipped = false;
    hooks.beforeSend = (what) => {
      if (flipped || what !== 'clean t-1') return;
      flipped = true;
      redis.status = 'reconnecting';
      redis.answers = false;
      void writes.cleanIncoming(z);
    };
    redis.status = 'ready';
    redis.answers = true;
    while (!flipped) await new Promise((r) => setImmediate(r));
    while (!away.isAway) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    hooks.beforeSend = undefined;
    await back();
    expect(written).toEqual(['clean t-1', 'incoming t-1']);
  });

  it('takes Redis connected again as answering, and asks it nothing more once closed', async () => {
    const { redis, writes, written, lines, away } = setUp();
    redis.status = 'reconnecting';
    await connect(writes, client('t-1'));
    redis.status = 'ready';
    for (const ready of redis.ready) ready();
    while (!lines.some((l) => l.includes('answers again: wrote'))) await new Promise((r) => setImmediate(r));
    expect(written).toEqual(sessionOf('t-1'));
    away.close();
    redis.status = 'reconnecting';
    await connect(writes, client('t-2'));
    // Closed, it no longer takes Redis to be away, and so starts no probe.
    expect(away.isAway).toBe(false);
  });

  it('tells in one line, not one per device, the sessions a Redis back again refuses for good, and writes the others', async () => {
    const { redis, writes, written, hooks, lines, back } = setUp();
    redis.status = 'reconnecting';
    for (const id of ['t-1', 't-2', 't-3']) await connect(writes, client(id));
    hooks.beforeSend = (what) => {
      if (what === 'will t-1 offline' || what === 'will t-2 offline')
        throw new Error('OOM command not allowed when used memory > maxmemory');
    };
    await back();
    expect(byClient(written)).toEqual(['clean t-1', 'incoming t-1', 'clean t-2', 'incoming t-2', ...sessionOf('t-3')]);
    expect(lines.filter((l) => l.includes('refused'))).toEqual([
      expect.stringContaining(
        'refused the sessions of 2 devices that connected while it was away (OOM command not allowed',
      ),
    ]);
    expect(lines.at(-1)).toContain('wrote the sessions of 1 device');
  });

  it('does not ask a Redis taken to be away to remove the earlier will of a clean session connecting, but does for a will leaving', async () => {
    const { redis, writes, written } = setUp();
    redis.status = 'reconnecting';
    await connect(writes, client('t-1'));
    // Connected again, but not yet found answering: still taken to be away.
    redis.status = 'ready';
    expect(await writes.delWill({ id: 't-2', brokerId: 'hub-a', clean: true })).toBeNull();
    await writes.delWill({ id: 't-3', brokerId: 'hub-a' });
    expect(written).toEqual(['remove will t-3']);
  });

  it('still waits for Redis for a persistent session, and refuses it when Redis does not answer', async () => {
    const { redis, writes, away } = setUp();
    redis.status = 'reconnecting';
    const kept = client('t-1', { clean: false });
    await expect(writes.putWill(kept, kept.will)).rejects.toThrow(/enableOfflineQueue/);
    await expect(async () => {
      for await (const p of writes.outgoingStream(kept)) expect(p).toBeUndefined();
    }).rejects.toThrow(/enableOfflineQueue/);
    expect(away.owing).toBe(0);
  });

  it('takes a command that timed out for Redis away (a Redis stopped keeps its connections), and fails on other refusals as before', async () => {
    const redis = new FakeRedis();
    const log = pino({ level: 'silent' });
    const refusing = (message: string): SessionWrites => ({
      delWill: () => Promise.resolve(),
      cleanSubscriptions: () => Promise.reject(new Error(message)),
      cleanIncoming: () => Promise.resolve(),
      putWill: () => Promise.resolve(),
      outgoingStream: async function* () {},
    });
    const silent = refusing('Command timed out');
    const paused = new AwaySessions({ conn: redis as never, url: 'redis://127.0.0.1:1', log, probeMs: 1 });
    paused.wrap(silent);
    await silent.cleanSubscriptions(client('t-1'));
    expect(paused.isAway).toBe(true);
    paused.close();

    const wrong = refusing('WRONGTYPE Operation against a key holding the wrong kind of value');
    const answering = new AwaySessions({ conn: redis as never, url: 'redis://127.0.0.1:1', log, probeMs: 1 });
    answering.wrap(wrong);
    await expect(wrong.cleanSubscriptions(client('t-1'))).rejects.toThrow(/WRONGTYPE/);
    expect(answering.isAway).toBe(false);
    expect(answering.owing).toBe(0);
  });

  it('keeps client ids such as __proto__ apart, and sweeps the clients gone as the owed grow', async () => {
    const { redis, writes, written, away, back } = setUp();
    redis.status = 'reconnecting';
    const hostile = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'].map((id) => client(id));
    for (const c of hostile) await connect(writes, c);
    expect(away.owing).toBe(4);
    // Devices that come and go while Redis is away do not pile up: at most the clients connected stay.
    for (let i = 0; i < 5000; i++) {
      const c = client(`t-${i}`);
      await writes.putWill(c, c.will);
      c.closed = true;
    }
    expect(away.owing).toBeLessThan(2100);
    await back();
    expect(written.filter((w) => w.startsWith('will'))).toEqual(hostile.map((c) => `will ${c.id} offline`));
  });
});
