// The 1-minute aggregates in InfluxDB 1.x: the minutes contract both stores pass, the continuous
// queries of earlier releases dropped with the minutes they wrote kept and read, the fields
// Grafana reads in long_term, and a zone's newest minutes read without reading each device's.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { touchedMinutes } from '../hub/store/minutes.ts';
import { encodePoint } from '../hub/store/influx/line-protocol.ts';
import { readingPoint } from '../hub/store/influx/schema.ts';
import { describeMinutesContract } from './store-minutes-contract.ts';
import { influxqlAt, startInfluxd, type InfluxdHandle } from './support/influxd.ts';

const influxUrl = inject('influxUrl');
const prefix = `fw_min_${process.pid}_${Date.now().toString(36)}`;
let n = 0;
const newDatabase = (): string => `${prefix}_${++n}`;
const influxql = (q: string, db?: string) => influxqlAt(influxUrl, q, db);

/** The names of a database's continuous queries, as the server keeps them. */
async function continuousQueries(db: string): Promise<string[]> {
  const body = await influxql('SHOW CONTINUOUS QUERIES');
  return (body.results[0]?.series?.find((s) => s.name === db)?.values ?? []).map((row) => String(row[0]));
}

// The contract runs on a server of its own that enforces retention every second, so raw readings
// past a shortened retention are seen to go by InfluxDB's own expiry.
let expiring: InfluxdHandle | undefined;
beforeAll(async () => {
  expiring = await startInfluxd([['retention', 'check-interval', '"1s"']]);
});
afterAll(async () => {
  await expiring?.dispose();
});

describeMinutesContract('InfluxStore', () => {
  const db = newDatabase();
  const url = expiring!.url;
  return {
    open: async ({ now, rawRetentionMs }) =>
      new InfluxStore({ url: `${url}/${db}`, now, rawRetention: `${rawRetentionMs}ms` }),
    rawOnly: async (r) => {
      const line = encodePoint(readingPoint(r));
      const response = await fetch(`${url}/write?db=${db}&rp=raw&precision=ms`, { method: 'POST', body: line });
      expect(response.status).toBe(204);
    },
    expireRaw: async (store) => {
      await expect.poll(() => store.count({ from: 0, to: Date.now() }), { timeout: 20_000, interval: 250 }).toBe(0);
    },
    dispose: async () => {
      await influxqlAt(url, `DROP DATABASE "${db}"`);
    },
  };
});

/** InfluxDB behind a proxy that counts the queries it is asked and the rows it answers. */
async function countingProxy() {
  const counted = { queries: 0, rows: 0 };
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        const answer = await fetch(`${influxUrl}${req.url ?? '/'}`, {
          method: req.method ?? 'GET',
          headers: { 'content-type': req.headers['content-type'] ?? 'text/plain' },
          ...(body && { body }),
        });
        const text = await answer.text();
        if (req.url?.startsWith('/query')) {
          counted.queries++;
          const json = JSON.parse(text) as { results?: Array<{ series?: Array<{ values?: unknown[] }> }> };
          for (const r of json.results ?? [])
            for (const series of r.series ?? []) counted.rows += series.values?.length ?? 0;
        }
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
        res.end(text);
      })();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    counted,
    close: () => new Promise((resolve) => proxy.close(resolve)),
  };
}

describe('InfluxStore minutes', () => {
  const HOUR = 3_600_000;
  const recent = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;

  it('creates no continuous query', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await store.init();
    expect(await continuousQueries(db)).toEqual([]);
    await store.close();
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('drops the continuous queries of an earlier release and reads the minutes they wrote beside its own', async () => {
    const db = newDatabase();
    await influxql(`CREATE DATABASE "${db}"`);
    await influxql(`CREATE RETENTION POLICY "raw" ON "${db}" DURATION 30d REPLICATION 1 DEFAULT`);
    await influxql(`CREATE RETENTION POLICY "long_term" ON "${db}" DURATION 104w REPLICATION 1`);
    await influxql(
      `CREATE CONTINUOUS QUERY cq_1m ON "${db}" BEGIN SELECT mean(*) INTO "${db}"."long_term".:MEASUREMENT FROM "${db}"."raw"./.*/ GROUP BY time(1m), * END`,
    );
    await influxql(
      `CREATE CONTINUOUS QUERY cq_1m_peak ON "${db}" BEGIN SELECT max(value) AS max_value INTO "${db}"."long_term"."noise_peak" FROM "${db}"."raw"."noise_peak" GROUP BY time(1m), * END`,
    );
    // A minute the old continuous query wrote: mean_value only.
    const MINUTE = 60_000;
    const old = recent - 10 * MINUTE;
    const write = await fetch(`${influxUrl}/write?db=${db}&rp=long_term&precision=ms`, {
      method: 'POST',
      body: `temperature,device=d1,zone=z1 mean_value=20.5 ${old}`,
    });
    expect(write.status).toBe(204);
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await store.init();
    expect(await continuousQueries(db)).toEqual([]);
    const reading = { device: 'd1', metric: 'temperature', ts: recent + 5_000, value: 22.5, zone: 'z1' };
    await store.write([reading]);
    await store.rollUp(touchedMinutes([reading]));
    expect(await store.queryMinutes({ device: 'd1', metric: 'temperature', from: old, to: recent + MINUTE })).toEqual([
      { device: 'd1', metric: 'temperature', zone: 'z1', ts: old, mean: 20.5, min: 20.5, max: 20.5, count: 1 },
      { device: 'd1', metric: 'temperature', zone: 'z1', ts: recent, mean: 22.5, min: 22.5, max: 22.5, count: 1 },
    ]);
    await store.close();
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('keeps a minute of noise as an energy average, and noise peaks with the loudest of each minute', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await store.init();
    const MINUTE = 60_000;
    const minute = recent + 5 * MINUTE;
    const readings = [
      { device: 'd1', metric: 'noise', ts: minute + 10_000, value: 40, zone: 'z1' },
      { device: 'd1', metric: 'noise', ts: minute + 40_000, value: 80, zone: 'z1' },
      // The next minute: not part of this one's average.
      { device: 'd1', metric: 'noise', ts: minute + MINUTE, value: 95, zone: 'z1' },
      { device: 'd1', metric: 'noise_peak', ts: minute + 10_000, value: 120, zone: 'z1' },
      { device: 'd1', metric: 'noise_peak', ts: minute + 40_000, value: 136, zone: 'z1' },
      { device: 'd1', metric: 'temperature', ts: minute + 10_000, value: 21.5, zone: 'z1' },
    ];
    await store.write(readings);
    await store.rollUp(touchedMinutes(readings));
    const energy = await influxql(`SELECT "energy" FROM "raw"."noise" WHERE time < ${minute + MINUTE}ms`, db);
    expect(energy.results[0]?.series?.[0]?.values).toEqual([
      [minute + 10_000, 1e4],
      [minute + 40_000, 1e8],
    ]);

    // Grafana reads the minutes as plain InfluxQL: the level from the mean energy.
    const noise = await influxql(
      `SELECT 10 * log10("mean_energy") AS "level", "mean_value" FROM "long_term"."noise" WHERE time < ${minute + MINUTE}ms`,
      db,
    );
    const [noiseRow] = noise.results[0]?.series?.[0]?.values ?? [];
    expect(noise.results[0]?.series?.[0]?.values).toHaveLength(1);
    expect(noiseRow?.[0]).toBe(minute);
    // 40 and 80 dB for equal times: about 77 dB of sound energy, not the arithmetic 60.
    expect(noiseRow?.[1]).toBeCloseTo(10 * Math.log10((1e4 + 1e8) / 2), 6);
    expect(noiseRow?.[1]).toBeCloseTo(77, 0);
    expect(noiseRow?.[2]).toBe(60);

    const peak = await influxql(
      'SELECT "max_value", 10 * log10("mean_energy") AS "level" FROM "long_term"."noise_peak"',
      db,
    );
    expect(peak.results[0]?.series?.[0]?.values).toHaveLength(1);
    const [peakRow] = peak.results[0]?.series?.[0]?.values ?? [];
    expect(peakRow?.[0]).toBe(minute);
    expect(peakRow?.[1]).toBe(136);
    expect(peakRow?.[2]).toBeCloseTo(10 * Math.log10((1e12 + 10 ** 13.6) / 2), 6);

    // Not a decibel metric: no energy.
    const temperature = await influxql('SELECT * FROM "long_term"."temperature"', db);
    expect(temperature.results[0]?.series?.[0]?.columns).toEqual([
      'time',
      'count',
      'device',
      'max_value',
      'mean_value',
      'min_value',
      'zone',
    ]);
    expect(temperature.results[0]?.series?.[0]?.values).toEqual([[minute, 1, 'd1', 21.5, 21.5, 21.5, 'z1']]);
    await store.close();
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('reads a zone’s newest minutes without reading as many of each of its devices', async () => {
    const db = newDatabase();
    const MINUTE = 60_000;
    const devices = Array.from({ length: 40 }, (_, i) => `d${String(i).padStart(2, '0')}`);
    const lines = devices.flatMap((d) =>
      Array.from(
        { length: 30 },
        (_, m) =>
          `temperature,device=${d},zone=z1 mean_value=${m},min_value=${m},max_value=${m},count=1i ${recent + m * MINUTE}`,
      ),
    );
    const proxy = await countingProxy();
    const store = new InfluxStore({ url: `${proxy.url}/${db}` });
    await store.init();
    const write = await fetch(`${influxUrl}/write?db=${db}&rp=long_term&precision=ms`, {
      method: 'POST',
      body: lines.join('\n'),
    });
    expect(write.status).toBe(204);
    proxy.counted.rows = 0;
    const newest = await store.queryMinutes({
      zone: 'z1',
      metric: 'temperature',
      from: recent,
      to: recent + 30 * MINUTE,
      limit: 50,
    });
    // The last minute of every device, then the last ten devices of the minute before, in order.
    expect(newest.map((m) => [m.ts, m.device])).toEqual([
      ...devices.slice(-10).map((d) => [recent + 28 * MINUTE, d]),
      ...devices.map((d) => [recent + 29 * MINUTE, d]),
    ]);
    // The limit and the minutes sharing the boundary's time, and the boundary itself: not 40 × 50.
    expect(proxy.counted.rows).toBeLessThanOrEqual(50 + devices.length + 1);
    await store.close();
    await proxy.close();
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('reads a range from 1970 under an infinite long-term retention from its first minute, not a day at a time', async () => {
    const db = newDatabase();
    const MINUTE = 60_000;
    const proxy = await countingProxy();
    const now = recent + 3 * 24 * HOUR;
    const store = new InfluxStore({
      url: `${proxy.url}/${db}`,
      now: () => now,
      rawRetention: '1d',
      longTermRetention: 'INF',
    });
    await store.init();
    const write = await fetch(`${influxUrl}/write?db=${db}&rp=long_term&precision=ms`, {
      method: 'POST',
      body: [0, 1]
        .map(
          (m) =>
            `temperature,device=d1,zone=z1 mean_value=2${m},min_value=2${m},max_value=2${m},count=1i ${recent + m * MINUTE}`,
        )
        .join('\n'),
    });
    expect(write.status).toBe(204);
    proxy.counted.queries = 0;
    const points = await store.query({ device: 'd1', metric: 'temperature', from: 0, to: now, agg: 'mean' });
    expect(points).toEqual([{ ts: 0, value: 20.5 }]);
    // The first minute, then the days from it to the raw retention's edge: not 20,000 days from 1970.
    expect(proxy.counted.queries).toBeLessThanOrEqual(6);
    expect(await store.query({ zone: 'nowhere', metric: 'temperature', from: 0, to: now, agg: 'mean' })).toEqual([]);
    await store.close();
    await proxy.close();
    await influxql(`DROP DATABASE "${db}"`);
  });
});
