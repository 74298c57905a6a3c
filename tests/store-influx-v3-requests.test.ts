// What the hub asks of an InfluxDB it does not manage (storage.influx_schema: external), checked
// against how InfluxDB 3 Core's v1 API reads a request: /write with rp goes to database "db/rp",
// /query finds "db"."policy" in a SELECT's FROM, and /ping answers 200 (1.x and 2.x answer 204).
// No InfluxDB 3 runs here: a server records the requests and answers as Core's source does.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../hub/domain/reading.ts';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { touchedMinutes } from '../hub/store/minutes.ts';
import type { AlertRecord } from '../hub/store/store.ts';
import { influxql3Problems } from './support/influxql-v3.ts';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

interface Recorded {
  path: string;
  params: URLSearchParams;
}

describe('an InfluxDB 3 Core through its v1 API', () => {
  let server: Server;
  let base: string;
  const requests: Recorded[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const params =
          req.method === 'POST' && url.pathname === '/query'
            ? new URLSearchParams(Buffer.concat(chunks).toString())
            : url.searchParams;
        requests.push({ path: url.pathname, params });
        if (url.pathname === '/ping') {
          res.writeHead(200, { 'content-type': 'application/json', 'x-influxdb-version': '3.7.0' });
          res.end('{"product_name":"InfluxDB 3 Core","version":"3.7.0"}');
        } else if (url.pathname === '/write') res.writeHead(204).end();
        else {
          // A roll-up finds one minute of d1; every other query finds nothing.
          const q = params.get('q') ?? '';
          const series = q.includes('AS "mean_value"')
            ? [
                {
                  name: 'noise',
                  tags: { device: 'd1', zone: 'z1', unknown: '' },
                  columns: ['time', 'mean_value', 'min_value', 'max_value', 'count', 'mean_energy'],
                  values: [[Math.floor(Date.now() / MINUTE) * MINUTE - 2 * MINUTE, 50, 50, 50, 1, 1e5]],
                },
              ]
            : undefined;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ results: [{ statement_id: 0, ...(series && { series }) }] }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('writes to the databases floorwatch/raw, /long_term and /alert_history and names them in every query, creating nothing', async () => {
    const store = new InfluxStore({ url: `${base}/floorwatch`, schema: 'external', rawRetention: '30d' });
    await store.init();
    expect(requests).toEqual([]);
    const now = Date.now();
    const at = Math.floor(now / MINUTE) * MINUTE - 2 * MINUTE;
    const readings: Reading[] = [
      { device: 'd1', metric: 'noise', ts: at + 1000, value: 50, zone: 'z1' },
      { device: 'd1', metric: 'temperature', ts: at + 2000, value: 21.5, zone: 'z1' },
    ];
    await store.write(readings);
    await store.rollUp(touchedMinutes(readings));
    const alert: AlertRecord = {
      alertId: 1,
      key: 'noise.d1',
      rule: 'noise',
      subject: 'd1',
      zone: 'z1',
      event: 'firing',
      severity: 'warning',
      at,
      summary: 'noise above its limit',
      value: 50,
    };
    await store.writeAlertEvents([alert]);
    for (const agg of [undefined, 'mean', 'min', 'max', 'last', 'laeq'] as const) {
      await store.query({ device: 'd1', metric: 'noise', from: at, to: now, ...(agg && { agg }) });
      // A range reaching past the raw retention is read from the minutes.
      await store.query({
        zone: 'z1',
        metric: 'noise',
        from: now - 60 * DAY,
        to: now,
        ...(agg && { agg }),
        every: DAY,
      });
    }
    await store.count({ from: at, to: now });
    await store.count({ device: 'd1', metric: 'noise', from: at, to: now });
    await store.queryMinutes({ device: 'd1', metric: 'noise', from: at, to: now });
    await store.queryMinutes({ zone: 'z1', metric: 'noise', from: at, to: now, limit: 10 });
    await store.queryAlertEvents({ from: at, to: now, zone: 'z1' });
    const health = await store.health();
    await store.close();
    // Minutes kept for ever are read from the scope's first.
    const forever = new InfluxStore({ url: `${base}/floorwatch`, schema: 'external', longTermRetention: 'INF' });
    await forever.query({ zone: 'z1', metric: 'noise', from: 0, to: now, agg: 'mean' });
    await forever.close();

    expect(health.ok).toBe(true);
    expect(health.detail).toContain('InfluxDB 3.7.0');
    const writes = requests.filter((r) => r.path === '/write');
    const targets = new Set(
      writes.map((w) => [w.params.get('db'), w.params.get('rp'), w.params.get('precision')].join(' ')),
    );
    expect([...targets].map((t) => t.split(' '))).toEqual([
      ['floorwatch', 'raw', 'ms'],
      ['floorwatch', 'long_term', 'ms'],
      ['floorwatch', 'alert_history', 'ms'],
    ]);
    const queries = requests.filter((r) => r.path === '/query').map((r) => r.params.get('q') ?? '');
    expect(queries.length).toBeGreaterThan(10);
    const problems = queries.flatMap((q) =>
      influxql3Problems(q, /^"floorwatch"\."(?:raw|long_term|alert_history)"\./).map((p) => `${q}: ${p}`),
    );
    expect(problems).toEqual([]);
    // One statement per request; bound values go as params, which Core's /query reads.
    expect(queries.every((q) => !q.includes(';'))).toBe(true);
    expect(requests.filter((r) => r.path === '/query').every((r) => r.params.get('epoch') === 'ms')).toBe(true);
  });
});
