import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx.ts';
import type { Store } from '../hub/store/store.ts';
import { describeStoreContract } from './store-contract.ts';
import { freePort, startInfluxd, type InfluxdHandle } from './support/influxd.ts';

const influxUrl = inject('influxUrl');
// Unique per file and run, so files and reruns never share a database on the shared server.
const prefix = `fw_${process.pid}_${Date.now().toString(36)}`;
let n = 0;
const newDatabase = (): string => `${prefix}_${++n}`;

/** Raw InfluxQL against the shared server, for checks the Store interface does not expose. */
async function influxql(q: string, db?: string, base = influxUrl): Promise<{ results: { series?: { values: unknown[][] }[]; error?: string }[] }> {
  const form = new URLSearchParams({ q });
  if (db !== undefined) form.set('db', db);
  const res = await fetch(`${base}/query`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  return (await res.json()) as { results: { series?: { values: unknown[][] }[]; error?: string }[] };
}

async function dropDatabase(store: Store): Promise<void> {
  await influxql(`DROP DATABASE "${(store as InfluxStore).database}"`);
}

describeStoreContract('InfluxStore', async () => new InfluxStore({ url: `${influxUrl}/${newDatabase()}` }), dropDatabase);

describe('InfluxStore', () => {
  const HOUR = 3_600_000;
  const recent = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;

  async function policies(db: string): Promise<Map<string, { duration: string; isDefault: boolean }>> {
    const body = await influxql(`SHOW RETENTION POLICIES ON "${db}"`);
    const rows = body.results[0]?.series?.[0]?.values ?? [];
    return new Map(rows.map((r) => [String(r[0]), { duration: String(r[1]), isDefault: r[4] === true }]));
  }

  it('creates the raw and long_term policies and the 1-minute continuous query, idempotently', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await store.init();
    await store.init();
    const rps = await policies(db);
    expect(rps.get('raw')).toEqual({ duration: '720h0m0s', isDefault: true });
    expect(rps.get('long_term')).toEqual({ duration: '17472h0m0s', isDefault: false });
    const cqs = await influxql('SHOW CONTINUOUS QUERIES');
    const flat = JSON.stringify(cqs);
    expect(flat).toContain(`CREATE CONTINUOUS QUERY cq_1m ON ${db} BEGIN SELECT mean(*) INTO ${db}.long_term.:MEASUREMENT`);
    expect(flat).toContain(`FROM ${db}.raw./.*/ GROUP BY time(1m), * END`);
    await store.close();
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('alters the policies when init runs with other durations', async () => {
    const db = newDatabase();
    await new InfluxStore({ url: `${influxUrl}/${db}` }).init();
    const store = new InfluxStore({ url: `${influxUrl}/${db}`, rawRetention: '7d', longTermRetention: '52w' });
    await store.init();
    await store.init();
    const rps = await policies(db);
    expect(rps.get('raw')).toEqual({ duration: '168h0m0s', isDefault: true });
    expect(rps.get('long_term')).toEqual({ duration: '8736h0m0s', isDefault: false });
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('writes into the raw policy with ms precision, one measurement per metric', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await store.init();
    await store.write([
      { device: 'd1', metric: 'noise', ts: recent + 1, value: 61, zone: 'z1' },
      { device: 'd2', metric: 'odd_metric', ts: recent + 2, value: 1.5, zone: '', unknownMetric: true },
    ]);
    const body = await influxql(
      'SELECT "value", "device", "zone", "unknown" FROM "raw"./.*/ GROUP BY * ORDER BY time',
      db,
    );
    expect(JSON.stringify(body)).not.toContain('error');
    const measurements = await influxql('SHOW MEASUREMENTS', db);
    expect(measurements.results[0]?.series?.[0]?.values).toEqual([['noise'], ['odd_metric']]);
    const tags = await influxql('SHOW SERIES FROM "odd_metric"', db);
    expect(tags.results[0]?.series?.[0]?.values).toEqual([['odd_metric,device=d2,unknown=true']]);
    const ms = await fetch(`${influxUrl}/query?${new URLSearchParams({ db, epoch: 'ms', q: 'SELECT "value" FROM "raw"."noise"' })}`);
    expect(JSON.stringify(await ms.json())).toContain(`[${recent + 1},61]`);
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('refuses database names it cannot put in InfluxQL', () => {
    for (const bad of ['my-db', 'x"; DROP DATABASE y', 'a b', '', 'x'.repeat(65), 'db%22']) {
      expect(() => new InfluxStore({ url: `${influxUrl}/${bad}` })).toThrow(/database name/);
    }
    expect(() => new InfluxStore({ url: `${influxUrl}/ok`, rawRetention: '30 days; DROP' })).toThrow(/duration/);
    expect(new InfluxStore({ url: `http://u:p@127.0.0.1:8086/prefix/floor_1` }).database).toBe('floor_1');
  });

  it("surfaces InfluxDB's own error messages", async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await expect(store.write([{ device: 'd1', metric: 'noise', ts: recent, value: 1, zone: 'z1' }])).rejects.toThrow(
      /database not found/,
    );
    await expect(store.query({ device: 'd1', metric: 'noise', from: recent, to: recent + 1 })).rejects.toThrow(
      /database not found/,
    );
  });

  it('accepts readings older than the raw policy as done, counting them', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}`, rawRetention: '1d' });
    await store.init();
    await store.write([
      { device: 'd1', metric: 'noise', ts: recent - 10 * 24 * HOUR, value: 50, zone: 'z1' },
      { device: 'd1', metric: 'noise', ts: recent, value: 51, zone: 'z1' },
    ]);
    expect(store.droppedBeyondRetention).toBe(1);
    expect(await store.count({ device: 'd1', from: 0, to: recent + HOUR })).toBe(1);
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('reports unhealthy when nothing listens', async () => {
    const port = await freePort();
    const store = new InfluxStore({ url: `http://127.0.0.1:${port}/db`, timeoutMs: 1000 });
    const h = await store.health();
    expect(h.ok).toBe(false);
    expect(h.detail).toMatch(/InfluxDB/);
    await expect(store.write([{ device: 'd1', metric: 'noise', ts: recent, value: 1, zone: 'z1' }])).rejects.toThrow(
      /InfluxDB POST/,
    );
  });

  describe('across a server restart', () => {
    let server: InfluxdHandle;
    beforeAll(async () => {
      server = await startInfluxd();
    });
    afterAll(async () => {
      await server.dispose();
    });

    it('fails while the server is down and carries on, data intact, once it is back', async () => {
      const store = new InfluxStore({ url: `${server.url}/restart_db`, timeoutMs: 2000 });
      await store.init();
      await store.write([{ device: 'd1', metric: 'noise', ts: recent, value: 50, zone: 'z1' }]);
      await server.stop();
      expect((await store.health()).ok).toBe(false);
      await expect(store.write([{ device: 'd1', metric: 'noise', ts: recent + 1, value: 51, zone: 'z1' }])).rejects.toThrow();
      await server.start();
      expect((await store.health()).ok).toBe(true);
      await store.write([{ device: 'd1', metric: 'noise', ts: recent + 1, value: 51, zone: 'z1' }]);
      expect(await store.query({ device: 'd1', metric: 'noise', from: recent, to: recent + HOUR })).toEqual([
        { ts: recent, value: 50, device: 'd1' },
        { ts: recent + 1, value: 51, device: 'd1' },
      ]);
      await store.close();
    });
  });
});
