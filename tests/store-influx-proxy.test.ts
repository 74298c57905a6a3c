// A server other than InfluxDB answering at the store's URL: a proxy's page, another service on
// the port. Its answers are not InfluxDB's, whatever their status says.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { StoreUnavailable } from '../hub/store/store.ts';

const reading = { device: 'd1', metric: 'noise', ts: Date.now() - 60_000, value: 50, zone: 'z1' };

describe('a server that is not InfluxDB answering at the store URL', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    // /ping answers as InfluxDB would; /query with a proxy's page under /html, with JSON of another
    // shape under /json; under /ok, /query answers as InfluxDB does and /write with a proxy's page.
    server = createServer((req, res) => {
      if (req.url?.endsWith('/ping')) {
        res.writeHead(204, { 'x-influxdb-version': '1.8.10' }).end();
      } else if (req.url?.startsWith('/ok/query')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0}]}');
      } else if (req.url?.startsWith('/html/') || req.url?.startsWith('/ok/')) {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to the site proxy</body></html>');
      } else {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"results":[{"statement_id":0,"series":[{"name":"noise","columns":"time,value"}]}]}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('makes the store unavailable, saying what answered, so readings wait in the journal rather than being set aside', async () => {
    for (const [prefix, said] of [
      ['html', /not what its query API returns: not JSON: "<html><body>Welcome to the site proxy/],
      ['json', /not what its query API returns: results\[0\]\.series\[0\]\.columns is not a list of names/],
    ] as const) {
      const store = new InfluxStore({ url: `${base}/${prefix}/floor`, timeoutMs: 2000 });
      for (const attempt of [
        store.init(),
        store.write([reading]),
        store.query({ device: 'd1', metric: 'noise', from: 0, to: Date.now() }),
        store.count({ from: 0, to: Date.now() }),
      ]) {
        const err = await attempt.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, prefix).toBeInstanceOf(StoreUnavailable);
        expect((err as Error).message).toMatch(said);
      }
      await store.close();
    }
  });

  it('does not take a write answered 200 for a stored one', async () => {
    const store = new InfluxStore({ url: `${base}/ok/floor`, timeoutMs: 2000 });
    await store.init();
    const err = await store.write([reading]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailable);
    expect((err as Error).message).toBe(
      'InfluxDB write failed (200): <html><body>Welcome to the site proxy</body></html>: InfluxDB answers a write it stored with 204, so something else answered in its place (a proxy, a redirect)',
    );
    await store.close();
  });
});
