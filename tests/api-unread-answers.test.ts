// Clients that ask for a long series of readings and never read the answer: past
// limits.http_unread_bytes of answers left unread, the hub closes the connection leaving the most,
// counts it, and goes on answering everyone else.
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../hub/domain/reading.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import { eventually, metric, startTestHub, tempDir, type TestHub } from './support/hub.ts';

const POINTS = 100_000;
const QUERY = '/api/v1/readings?device=t-1&metric=temperature&from=-1d';
const CLOSED = /^floorwatch_http_unread_closed_total (\d+)/m;

describe('answers no one reads', () => {
  let hub: TestHub;
  const clients: Socket[] = [];

  beforeAll(async () => {
    // A day of readings already stored, so one answer is several megabytes.
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
    hub = await startTestHub({
      dataDir,
      config: { zones: [{ id: 'floor-a' }], limits: { http_unread_bytes: 1024 * 1024 } },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await hub?.dispose();
  });

  it('closes the connections leaving the most unread past the limit, and answers a client that reads', async () => {
    const whole = Buffer.byteLength(await (await hub.api(QUERY)).text());
    expect(whole).toBeGreaterThan(4 * 1024 * 1024);

    const { port } = new URL(hub.hub.url);
    const received = new Map<Socket, number>();
    for (let i = 0; i < 3; i++) {
      const client = connect({ host: '127.0.0.1', port: Number(port) });
      await once(client, 'connect');
      // Asks, and reads nothing.
      client.pause();
      client.write(`GET ${QUERY} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      received.set(client, 0);
      clients.push(client);
    }
    await eventually(async () => (await metric(hub, CLOSED)) >= 3, {
      what: 'the hub to close the three connections that do not read',
    });

    // What each got before the hub closed it is less than its answer.
    await Promise.all(
      clients.map(async (client) => {
        client.on('data', (chunk: Buffer) => received.set(client, (received.get(client) ?? 0) + chunk.length));
        client.on('error', () => undefined);
        client.resume();
        await once(client, 'close');
      }),
    );
    for (const bytes of received.values()) expect(bytes).toBeLessThan(whole);

    // A client that reads gets the whole answer.
    expect(Buffer.byteLength(await (await hub.api(QUERY)).text())).toBe(whole);
  });
});
