// Clients that ask for a long series of readings and do not read the answer. The hub works on one
// answer at a time per connection, cuts off an answer not taken within limits.http_answer_timeout,
// closes a connection that sends too many requests ahead, and refuses a large answer while
// limits.http_unread_bytes of others wait, answering small ones and every client that reads.
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AHEAD_MAX } from '../hub/api/unread-answers.ts';
import type { Reading } from '../hub/domain/reading.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import { eventually, metric, startTestHub, tempDir, type TestHub } from './support/hub.ts';

const POINTS = 100_000;
const QUERY = '/api/v1/readings?device=t-1&metric=temperature&from=-1d';
const WAITING = /^floorwatch_http_unread_bytes (\d+)/m;
const REFUSED = /^floorwatch_http_unread_refused_total (\d+)/m;
const closed = (why: string) => new RegExp(`^floorwatch_http_unread_closed_total\\{reason="${why}"\\} (\\d+)`, 'm');

/** A hub whose store already holds half a day of readings at 2.5 Hz, so one answer is megabytes. */
async function hubWithReadings(limits: Record<string, unknown>): Promise<TestHub> {
  const dataDir = tempDir();
  const store = new SqliteStore({ path: join(dataDir, 'readings.sqlite'), rawRetentionMs: 7 * 86_400_000 });
  await store.init();
  const start = Date.now() - 12 * 3_600_000;
  const readings: Reading[] = [];
  for (let i = 0; i < POINTS; i++)
    readings.push({
      device: 't-1',
      zone: 'floor-a',
      metric: 'temperature',
      value: 20 + (i % 50) / 10,
      ts: start + i * 400,
    });
  await store.write(readings);
  await store.close();
  return startTestHub({ dataDir, config: { zones: [{ id: 'floor-a' }], limits } });
}

/** A client on a raw socket that sends `requests` at once and reads nothing until told. */
async function silentClient(hub: TestHub, requests: number): Promise<Socket> {
  const { port } = new URL(hub.hub.url);
  const client = connect({ host: '127.0.0.1', port: Number(port) });
  await once(client, 'connect');
  client.pause();
  client.on('error', () => undefined);
  client.write(`GET ${QUERY} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`.repeat(requests));
  return client;
}

/** Reads `client` until it has `count` answers, or to its end; each answer's status and body length. */
async function answersOf(client: Socket, count = Infinity): Promise<Array<{ status: number; bytes: number }>> {
  const answers: Array<{ status: number; bytes: number }> = [];
  let buffered = Buffer.alloc(0);
  const take = (): boolean => {
    for (;;) {
      const headEnd = buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return false;
      const head = buffered.subarray(0, headEnd).toString('latin1');
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < headEnd + 4 + length) return false;
      answers.push({ status: Number(head.split(' ')[1]), bytes: length });
      buffered = buffered.subarray(headEnd + 4 + length);
      if (answers.length >= count) return true;
    }
  };
  await new Promise<void>((resolve) => {
    client.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (take()) resolve();
    });
    client.once('close', () => resolve());
    // Reset by the hub while it was paused: closed already, with nothing to read.
    if (client.closed) resolve();
    client.resume();
  });
  // A partial answer cut off counts with what arrived of it.
  if (buffered.length > 0) answers.push({ status: 0, bytes: buffered.length });
  return answers;
}

describe('answers no one reads, with a one-second limit to take them', () => {
  let hub: TestHub;
  let whole: number;
  const clients: Socket[] = [];
  beforeAll(async () => {
    hub = await hubWithReadings({ http_answer_timeout: '1s' });
    whole = Buffer.byteLength(await (await hub.api(QUERY)).text());
    expect(whole).toBeGreaterThan(4 * 1024 * 1024);
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await hub?.dispose();
  });

  it('cuts off an answer not taken in time, and answers a client that reads', async () => {
    const client = await silentClient(hub, 1);
    clients.push(client);
    await eventually(async () => (await metric(hub, closed('unread'))) >= 1, {
      what: 'the hub to close the connection whose answer is not read',
    });
    const got = await answersOf(client);
    expect(got.reduce((sum, a) => sum + a.bytes, 0)).toBeLessThan(whole);
    expect(Buffer.byteLength(await (await hub.api(QUERY)).text())).toBe(whole);
    await eventually(async () => (await metric(hub, WAITING)) === 0, { what: 'no answer to be left waiting' });
  });

  it(`closes a connection that sends more than ${AHEAD_MAX} requests ahead of their answers`, async () => {
    const before = await metric(hub, closed('ahead'));
    const client = await silentClient(hub, AHEAD_MAX + 3);
    clients.push(client);
    await eventually(async () => (await metric(hub, closed('ahead'))) > before, {
      what: 'the hub to close the connection with too many requests ahead',
    });
    // Closed before a single answer could pile up behind the first.
    expect((await answersOf(client)).length).toBeLessThanOrEqual(1);
  });
});

describe('answers waiting for their clients, at most 1 MiB of them', () => {
  let hub: TestHub;
  let whole: number;
  const clients: Socket[] = [];
  beforeAll(async () => {
    hub = await hubWithReadings({ http_unread_bytes: 1024 * 1024 });
    whole = Buffer.byteLength(await (await hub.api(QUERY)).text());
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await hub?.dispose();
  });

  it('refuses a large answer while one waits unread, answers small ones, and answers it once that is taken', async () => {
    const slow = await silentClient(hub, 1);
    clients.push(slow);
    await eventually(async () => (await metric(hub, WAITING)) > 0, { what: 'an answer to wait for its client' });

    const refused = await hub.api(QUERY);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(((await refused.json()) as { message: string }).message).toMatch(/limits\.http_unread_bytes/);
    // /metrics is a small answer: it goes.
    expect(await metric(hub, REFUSED)).toBe(1);
    expect((await hub.api('/api/v1/health')).status).toBe(200);

    expect(await answersOf(slow, 1)).toEqual([{ status: 200, bytes: whole }]);
    await eventually(async () => (await metric(hub, WAITING)) === 0, { what: 'the taken answer to stop counting' });
    expect(Buffer.byteLength(await (await hub.api(QUERY)).text())).toBe(whole);
  });

  it('works on one answer of a connection at a time, so requests sent ahead are not refused', async () => {
    const refusedBefore = await metric(hub, REFUSED);
    const client = await silentClient(hub, 3);
    clients.push(client);
    await eventually(async () => (await metric(hub, WAITING)) > 0, { what: 'the first answer to wait for its client' });
    // The two behind it have not been worked on: only the first is held.
    expect(await metric(hub, WAITING)).toBe(whole);
    expect(await answersOf(client, 3)).toEqual(Array.from({ length: 3 }, () => ({ status: 200, bytes: whole })));
    expect(await metric(hub, REFUSED)).toBe(refusedBefore);
  });
});
