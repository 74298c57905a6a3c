// Clients that ask and do not read their answers. Each connection is answered one request at a
// time, one that sends too many ahead is closed, an answer of which nothing is taken for the
// limit is cut off while a slow reader that keeps reading gets all of it, and a large answer is
// refused while limits.http_unread_bytes of others wait, small ones still answered. Answers of
// 32 MiB, more than the kernel's socket buffers take in, on a server of their own; then the hub's
// wiring of it.
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AHEAD_MAX, boundUnreadAnswers, type UnreadClose, type UnreadAnswers } from '../hub/api/unread-answers.ts';
import { eventually, metric, startTestHub, type TestHub } from './support/hub.ts';

const MiB = 1024 * 1024;
const BIG = 'x'.repeat(32 * MiB);
const MEDIUM = 'y'.repeat(8 * MiB);

interface Server {
  app: FastifyInstance;
  port: number;
  unread: UnreadAnswers;
  closed: UnreadClose[];
  refused: () => number;
  /** Resolves the next answer of GET /later, which waits for it. */
  release: () => void;
  /** Settles once GET /later's answer has been through every onSend hook. */
  laterSent: Promise<unknown>;
}

async function server(limits: { maxBytes?: number; timeoutMs?: number } = {}): Promise<Server> {
  const app = Fastify();
  const closed: UnreadClose[] = [];
  let refused = 0;
  const unread = boundUnreadAnswers(app, {
    maxBytes: limits.maxBytes ?? 64 * MiB,
    timeoutMs: limits.timeoutMs ?? 60_000,
    onClosed: (why) => closed.push(why),
    onRefused: () => (refused += 1),
  });
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let sent = (): void => undefined;
  const laterSent = new Promise<void>((resolve) => (sent = resolve));
  // After the bound's own, as the hub's access checks are: one that takes its time (a password
  // check), and one that refuses before any handler runs.
  app.addHook('onRequest', async (request, reply) => {
    if (request.url === '/checked') await new Promise((resolve) => setTimeout(resolve, 100));
    if (request.url === '/refused') return reply.code(401).send({ error: 'Unauthorized', message: 'no' });
    return undefined;
  });
  // After the bound's own: sees what it made of each answer.
  app.addHook('onSend', async (request, _reply, payload) => {
    if (request.url === '/later') sent();
    return payload;
  });
  app.get('/big', async (_request, reply) => {
    void reply.header('content-disposition', 'attachment; filename="big.txt"');
    return BIG;
  });
  app.get('/medium', async () => MEDIUM);
  app.get('/checked', async () => 'checked');
  app.get('/refused', async () => 'not reached');
  app.get('/small', async () => 'small');
  app.get('/later', async () => {
    await gate;
    return BIG;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, port, unread, closed, refused: () => refused, release, laterSent };
}

/** A client on a raw socket that sends `requests` (paths) at once and reads nothing until told. */
async function silentClient(port: number, paths: string[], clients: Socket[]): Promise<Socket> {
  const client = connect({ host: '127.0.0.1', port });
  clients.push(client);
  await once(client, 'connect');
  client.pause();
  client.on('error', () => undefined);
  client.write(paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`).join(''));
  return client;
}

interface Answer {
  status: number;
  bytes: number;
}

/**
 * Reads `client` until it has `count` answers, or to its end: each answer's status and body
 * length, and a last one of status 0 for what came of an answer cut off. `pace` reads slowly:
 * after each chunk the client stops reading for that long.
 */
async function answersOf(client: Socket, count = Infinity, pace = 0): Promise<Answer[]> {
  const answers: Answer[] = [];
  // The head being read, or the answer whose body is being counted and how much of it is left.
  let head = Buffer.alloc(0);
  let body: { answer: Answer; left: number } | undefined;
  const take = (chunk: Buffer): boolean => {
    let rest = chunk;
    while (rest.length > 0) {
      if (body) {
        const taken = Math.min(body.left, rest.length);
        body.left -= taken;
        rest = rest.subarray(taken);
        if (body.left > 0) return false;
        answers.push(body.answer);
        body = undefined;
        if (answers.length >= count) return true;
        continue;
      }
      head = Buffer.concat([head, rest]);
      const headEnd = head.indexOf('\r\n\r\n');
      if (headEnd < 0) return false;
      const text = head.subarray(0, headEnd).toString('latin1');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      rest = head.subarray(headEnd + 4);
      head = Buffer.alloc(0);
      body = { answer: { status: Number(text.split(' ')[1]), bytes: length }, left: length };
    }
    if (body?.left === 0) {
      answers.push(body.answer);
      body = undefined;
    }
    return answers.length >= count;
  };
  await new Promise<void>((resolve) => {
    client.on('data', (chunk: Buffer) => {
      if (take(chunk)) resolve();
      else if (pace > 0) {
        client.pause();
        setTimeout(() => client.resume(), pace);
      }
    });
    client.once('close', () => resolve());
    // Reset by the server while it was paused: closed already, with nothing to read.
    if (client.closed) resolve();
    client.resume();
  });
  // What came of an answer cut off.
  if (body) answers.push({ status: 0, bytes: body.answer.bytes - body.left });
  return answers;
}

const whole = (body: string): Answer => ({ status: 200, bytes: Buffer.byteLength(body) });

describe('answers no one reads, on a server of their own', () => {
  const servers: Server[] = [];
  const clients: Socket[] = [];
  const start = async (limits?: Parameters<typeof server>[0]) => {
    const s = await server(limits);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.app.close();
  });

  it('cuts off an answer of which nothing is taken for the limit, and answers a client that reads', async () => {
    const s = await start({ timeoutMs: 1000 });
    const client = await silentClient(s.port, ['/big'], clients);
    await eventually(() => s.closed.includes('unread'), { what: 'the answer no one reads to be cut off' });
    const got = await answersOf(client);
    expect(got.reduce((sum, a) => sum + a.bytes, 0)).toBeLessThan(BIG.length);
    expect(s.unread.waitingBytes()).toBe(0);
    expect((await (await fetch(`http://127.0.0.1:${s.port}/big`)).text()).length).toBe(BIG.length);
  });

  it('does not cut off a slow reader that keeps reading, however long the whole answer takes', async () => {
    const s = await start({ timeoutMs: 1000 });
    const client = await silentClient(s.port, ['/medium'], clients);
    const began = Date.now();
    expect(await answersOf(client, 1, 25)).toEqual([whole(MEDIUM)]);
    // Longer than the limit: it is the time without progress that counts.
    expect(Date.now() - began).toBeGreaterThan(1000);
    expect(s.closed).toEqual([]);
  });

  it('does not cut off a slow reader for an early refusal waiting behind its answer', async () => {
    const s = await start({ timeoutMs: 1000 });
    const client = await silentClient(s.port, ['/medium', '/refused'], clients);
    const got = await answersOf(client, 2, 25);
    expect(got[0]).toEqual(whole(MEDIUM));
    expect(got[1]?.status).toBe(401);
    expect(s.closed).toEqual([]);
  });

  it(`closes a connection that sends more than ${AHEAD_MAX} requests ahead of their answers, and counts it once`, async () => {
    const s = await start();
    const client = await silentClient(s.port, Array<string>(AHEAD_MAX * 2).fill('/big'), clients);
    await eventually(() => s.closed.includes('ahead'), { what: 'the connection to be closed' });
    // Closed before a second answer could pile up behind the first.
    expect((await answersOf(client)).filter((a) => a.status === 200).length).toBeLessThanOrEqual(1);
    expect(s.closed).toEqual(['ahead']);
  });

  it('works on one answer of a connection at a time: the others wait unmade', async () => {
    const s = await start({ maxBytes: MiB });
    const client = await silentClient(s.port, ['/big', '/big', '/big'], clients);
    await eventually(() => s.unread.waitingBytes() > 0, { what: 'the first answer to wait for its client' });
    expect(s.unread.waitingBytes()).toBe(BIG.length);
    expect(await answersOf(client, 3)).toEqual([whole(BIG), whole(BIG), whole(BIG)]);
    // With one answer held at a time, none of the three was refused for the others.
    expect(s.refused()).toBe(0);
  });

  it('refuses a large answer while others wait unread, and answers small ones and HEAD', async () => {
    const s = await start({ maxBytes: MiB });
    const slow = await silentClient(s.port, ['/big'], clients);
    await eventually(() => s.unread.waitingBytes() > 0, { what: 'an answer to wait for its client' });

    const refused = await fetch(`http://127.0.0.1:${s.port}/big`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');
    // The download it would have been is not offered.
    expect(refused.headers.get('content-disposition')).toBeNull();
    expect(((await refused.json()) as { message: string }).message).toMatch(/limits\.http_unread_bytes/);
    expect(s.refused()).toBe(1);
    expect(await (await fetch(`http://127.0.0.1:${s.port}/small`)).text()).toBe('small');
    expect((await fetch(`http://127.0.0.1:${s.port}/big`, { method: 'HEAD' })).status).toBe(200);

    expect(await answersOf(slow, 1)).toEqual([whole(BIG)]);
    await eventually(() => s.unread.waitingBytes() === 0, { what: 'the answer taken to stop counting' });
    expect((await (await fetch(`http://127.0.0.1:${s.port}/big`)).text()).length).toBe(BIG.length);
  });

  it('answers in the order requests came, one that takes longer to check first', async () => {
    const s = await start();
    const client = await silentClient(s.port, ['/checked', '/small', '/checked', '/small'], clients);
    expect(await answersOf(client, 4)).toEqual([whole('checked'), whole('small'), whole('checked'), whole('small')]);
  });

  it('counts nothing held once a connection with refusals queued behind an answer ends', async () => {
    const s = await start();
    const arrived = new Promise<Socket>((resolve) =>
      s.app.server.once('request', (request: IncomingMessage) => resolve(request.socket)),
    );
    const client = await silentClient(s.port, ['/later', ...Array<string>(AHEAD_MAX - 1).fill('/refused')], clients);
    const socket = await arrived;
    await eventually(() => s.unread.waitingBytes() > 0, { what: 'the refusals queued behind the first answer' });
    client.destroy();
    if (!socket.destroyed) await once(socket, 'close');
    s.release();
    await s.laterSent;
    expect(s.unread.waitingBytes()).toBe(0);
    expect(s.closed).toEqual([]);
  });

  it('counts nothing for a client that left before its answer was ready', async () => {
    const s = await start();
    const arrived = new Promise<Socket>((resolve) =>
      s.app.server.once('request', (request: IncomingMessage) => resolve(request.socket)),
    );
    const client = await silentClient(s.port, ['/later'], clients);
    const socket = await arrived;
    client.destroy();
    if (!socket.destroyed) await once(socket, 'close');
    s.release();
    await s.laterSent;
    expect(s.unread.waitingBytes()).toBe(0);
    expect(s.closed).toEqual([]);
  });
});

describe("the hub's answers to a client that sends too many requests ahead", () => {
  let hub: TestHub;
  const clients: Socket[] = [];
  beforeAll(async () => {
    hub = await startTestHub({ config: { zones: [{ id: 'floor-a' }] } });
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await hub?.dispose();
  });

  it('closes its connection, counts it and shows what waits', async () => {
    const { port } = new URL(hub.hub.url);
    const query = '/api/v1/readings?device=t-1&metric=temperature&from=-1d';
    const client = await silentClient(Number(port), Array<string>(AHEAD_MAX + 2).fill(query), clients);
    await eventually(
      async () => (await metric(hub, /^floorwatch_http_unread_closed_total\{reason="ahead"\} (\d+)/m)) >= 1,
      { what: 'the hub to close the connection' },
    );
    await answersOf(client);
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/^floorwatch_http_unread_bytes 0$/m);
    expect(metrics).toMatch(/^floorwatch_http_unread_refused_total 0$/m);
  });
});
