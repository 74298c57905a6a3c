import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfluxClient, parseInfluxUrl } from '../hub/store/influx/client.ts';
import { touchedMinutes } from '../hub/store/minutes.ts';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { firstSeries, measurementIn, rawPoints, rawQuery, whereScope } from '../hub/store/influx/influxql.ts';
import { encodePoint } from '../hub/store/influx/line-protocol.ts';
import { StoreRefusal, StoreUnavailable, type AlertRecord, type Store } from '../hub/store/store.ts';
import { describeStoreContract } from './store-contract.ts';
import { hostileName } from './support/hostile-names.ts';
import { freePort, influxqlAt, startInfluxd, type InfluxdHandle } from './support/influxd.ts';

const influxUrl = inject('influxUrl');
// Unique per file and run, so files and reruns never share a database on the shared server.
const prefix = `fw_${process.pid}_${Date.now().toString(36)}`;
let n = 0;
const newDatabase = (): string => `${prefix}_${++n}`;

/** Raw InfluxQL against the shared server, for checks the Store interface does not expose; times in ms. */
const influxql = (q: string, db?: string, base = influxUrl) => influxqlAt(base, q, db);

async function dropDatabase(store: Store): Promise<void> {
  if (!(store instanceof InfluxStore)) throw new Error('the contract was handed a store that is not InfluxDB');
  await influxql(`DROP DATABASE "${store.database}"`);
}

describeStoreContract(
  'InfluxStore',
  async () => new InfluxStore({ url: `${influxUrl}/${newDatabase()}` }),
  dropDatabase,
);

describe('InfluxStore', () => {
  const HOUR = 3_600_000;
  const recent = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;

  async function policies(db: string): Promise<Map<string, { duration: string; isDefault: boolean }>> {
    const body = await influxql(`SHOW RETENTION POLICIES ON "${db}"`);
    const rows = body.results[0]?.series?.[0]?.values ?? [];
    return new Map(rows.map((r) => [String(r[0]), { duration: String(r[1]), isDefault: r[4] === true }]));
  }

  it('creates the raw, long_term and alert_history policies, idempotently', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await store.init();
    await store.init();
    const rps = await policies(db);
    expect(rps.get('raw')).toEqual({ duration: '720h0m0s', isDefault: true });
    expect(rps.get('long_term')).toEqual({ duration: '17472h0m0s', isDefault: false });
    expect(rps.get('alert_history')).toEqual({ duration: '17472h0m0s', isDefault: false });
    await store.close();
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('with an external schema creates nothing: a missing database is named, a kept one is used as it is', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}`, schema: 'external' });
    await store.init();
    const reading = { device: 'd1', metric: 'temperature', ts: Date.now() - 60_000, value: 21.5, zone: 'z1' };
    const refused = await store.write([reading]).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreUnavailable);
    expect(String(refused)).toMatch(new RegExp(`the hub does not create it .*create database ${db}`));
    expect(JSON.stringify(await influxql('SHOW DATABASES'))).not.toContain(db);

    // The administrator's database, with a raw policy of a week the hub leaves as it is.
    await influxql(`CREATE DATABASE "${db}"`);
    await influxql(`CREATE RETENTION POLICY "raw" ON "${db}" DURATION 7d REPLICATION 1 DEFAULT`);
    await influxql(`CREATE RETENTION POLICY "long_term" ON "${db}" DURATION 104w REPLICATION 1`);
    await influxql(`CREATE RETENTION POLICY "alert_history" ON "${db}" DURATION 104w REPLICATION 1`);
    await store.init();
    await store.write([reading]);
    await store.rollUp(touchedMinutes([reading]));
    expect(await store.count({ device: 'd1', from: 0, to: Date.now() })).toBe(1);
    expect(await store.queryMinutes({ device: 'd1', metric: 'temperature', from: 0, to: Date.now() })).toHaveLength(1);
    expect((await policies(db)).get('raw')).toEqual({ duration: '168h0m0s', isDefault: true });
    expect([...(await policies(db)).keys()].sort()).toEqual(['alert_history', 'autogen', 'long_term', 'raw']);
    await store.close();
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('writes alert history into alert_history and carries over what an older release kept in raw', async () => {
    const db = newDatabase();
    await new InfluxStore({ url: `${influxUrl}/${db}` }).init();
    // An older release's alert history, in the raw policy.
    const write = await fetch(`${influxUrl}/write?db=${db}&rp=raw&precision=ms`, {
      method: 'POST',
      body: `alerts,event=firing,key=equipment.headset.hs-17,rule=equipment.headset,severity=critical,zone=floor-a alert_id=42i,subject="hs-17",summary="headset fault: call drop-outs" ${recent}`,
    });
    expect(write.status).toBe(204);
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await store.init();
    const older: AlertRecord = {
      alertId: 42,
      key: 'equipment.headset.hs-17',
      rule: 'equipment.headset',
      subject: 'hs-17',
      zone: 'floor-a',
      event: 'firing',
      severity: 'critical',
      at: recent,
      summary: 'headset fault: call drop-outs',
    };
    const newer: AlertRecord = { ...older, event: 'resolved', at: recent + 60_000, value: 0 };
    await store.writeAlertEvents([newer]);
    expect(await store.queryAlertEvents({ from: recent, to: recent + HOUR })).toEqual([older, newer]);
    const inPolicy = await influxql('SELECT count("alert_id") FROM "alert_history"."alerts"', db);
    expect(inPolicy.results[0]?.series?.[0]?.values).toEqual([[0, 2]]);
    const inRaw = await influxql('SELECT count("alert_id") FROM "raw"."alerts"', db);
    expect(inRaw.results[0]?.series?.[0]?.values).toEqual([[0, 1]]);
    // The copy is made once: what raw holds at a later start stays there.
    const late = await fetch(`${influxUrl}/write?db=${db}&rp=raw&precision=ms`, {
      method: 'POST',
      body: `alerts,event=resolved,key=equipment.headset.hs-17,rule=equipment.headset,severity=critical,zone=floor-a alert_id=42i,subject="hs-17",summary="headset ok" ${recent + 1000}`,
    });
    expect(late.status).toBe(204);
    await store.init();
    expect(
      (await influxql('SELECT count("alert_id") FROM "alert_history"."alerts"', db)).results[0]?.series?.[0]?.values,
    ).toEqual([[0, 2]]);
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
    // Alert history follows the long-term retention unless given its own.
    expect(rps.get('alert_history')).toEqual({ duration: '8736h0m0s', isDefault: false });
    await new InfluxStore({
      url: `${influxUrl}/${db}`,
      longTermRetention: '52w',
      alertHistoryRetention: '156w',
    }).init();
    expect((await policies(db)).get('alert_history')).toEqual({ duration: '26208h0m0s', isDefault: false });
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
    const ms = await fetch(
      `${influxUrl}/query?${new URLSearchParams({ db, epoch: 'ms', q: 'SELECT "value" FROM "raw"."noise"' }).toString()}`,
    );
    expect(JSON.stringify(await ms.json())).toContain(`[${recent + 1},61]`);
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('refuses database names it cannot put in InfluxQL', () => {
    for (const bad of ['my-db', 'x"; DROP DATABASE y', 'a b', '', 'x'.repeat(65), 'db%22']) {
      expect(() => new InfluxStore({ url: `${influxUrl}/${bad}` })).toThrow(/database name/);
    }
    expect(() => new InfluxStore({ url: `${influxUrl}/ok`, rawRetention: '30 days; DROP' })).toThrow(/duration/);
    expect(() => new InfluxStore({ url: `${influxUrl}/ok`, alertHistoryRetention: '2 years' })).toThrow(
      /alertHistoryRetention "2 years" is not an InfluxQL duration/,
    );
    expect(new InfluxStore({ url: `http://u:p@127.0.0.1:8086/prefix/floor_1` }).database).toBe('floor_1');
  });

  it("surfaces InfluxDB's own error messages", async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    await expect(store.query({ device: 'd1', metric: 'noise', from: recent, to: recent + 1 })).rejects.toThrow(
      /database not found/,
    );
  });

  it('creates its database at the first write when it could not at start, and again once it or its policy was dropped', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}` });
    // No init(): as when InfluxDB was down while the hub started.
    await store.write([{ device: 'd1', metric: 'noise', ts: recent, value: 1, zone: 'z1' }]);
    expect(await store.count({ device: 'd1', from: 0, to: recent + HOUR })).toBe(1);
    await influxql(`DROP DATABASE "${db}"`);
    const gone = await store
      .write([{ device: 'd1', metric: 'noise', ts: recent + 1, value: 2, zone: 'z1' }])
      .catch((err: unknown) => err);
    expect(gone).toBeInstanceOf(StoreUnavailable);
    expect((gone as Error).message).toMatch(/database not found/);
    await store.write([{ device: 'd1', metric: 'noise', ts: recent + 1, value: 2, zone: 'z1' }]);
    expect(await store.count({ device: 'd1', from: 0, to: recent + HOUR })).toBe(1);
    const policies = await influxql(`SHOW RETENTION POLICIES ON "${db}"`);
    expect(JSON.stringify(policies)).toContain('long_term');
    // A policy dropped while the hub runs is created again the same way.
    await influxql(`DROP RETENTION POLICY "raw" ON "${db}"`);
    const noPolicy = await store
      .write([{ device: 'd1', metric: 'noise', ts: recent + 2, value: 3, zone: 'z1' }])
      .catch((err: unknown) => err);
    expect((noPolicy as Error).message).toMatch(/retention policy not found/);
    await store.write([{ device: 'd1', metric: 'noise', ts: recent + 2, value: 3, zone: 'z1' }]);
    expect(await store.count({ device: 'd1', from: 0, to: recent + HOUR })).toBe(1);
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('refuses readings older than the raw policy for good, saying how many it dropped, and stores the rest', async () => {
    const db = newDatabase();
    const store = new InfluxStore({ url: `${influxUrl}/${db}`, rawRetention: '1d' });
    await store.init();
    const refusal = await store
      .write([
        { device: 'd1', metric: 'noise', ts: recent - 10 * 24 * HOUR, value: 50, zone: 'z1' },
        { device: 'd1', metric: 'noise', ts: recent, value: 51, zone: 'z1' },
      ])
      .catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(StoreRefusal);
    expect((refusal as StoreRefusal).message).toMatch(/points beyond retention policy/);
    expect((refusal as StoreRefusal).dropped).toBe(1);
    expect(await store.count({ device: 'd1', from: 0, to: recent + HOUR })).toBe(1);
    await influxql(`DROP DATABASE "${db}"`);
  });

  it('stops reading an answer past its bound: a service at the URL that streams without end is not held whole', async () => {
    const server = createServer((_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 120);
      const more = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', more);
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new InfluxClient(parseInfluxUrl(`http://127.0.0.1:${port}/floorwatch`), 10_000, 2 * 1024 * 1024);
    try {
      // A ping reads at most 1 MiB; a query what the client was given.
      await expect(client.ping(10_000)).rejects.toThrow(
        new StoreUnavailable(
          `InfluxDB GET http://127.0.0.1:${port}/ping failed: its answer is over 1048576 bytes, more than InfluxDB sends`,
        ),
      );
      await expect(client.query('SHOW DATABASES')).rejects.toThrow(
        new StoreUnavailable(
          `InfluxDB POST http://127.0.0.1:${port}/query failed: its answer is over 2097152 bytes, more than InfluxDB sends`,
        ),
      );
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
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

  it('reads back as written a point whose measurement, tag value and text hold hostile names', async () => {
    const db = newDatabase();
    await influxql(`CREATE DATABASE "${db}"`);
    const client = new InfluxClient(parseInfluxUrl(`${influxUrl}/${db}`), 10_000);
    const text = fc.oneof(
      hostileName,
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('', '\\', '\\"', 'a\nb\r\nc', '"); DROP DATABASE x'),
    );
    const value = fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));
    let time = recent;
    await fc.assert(
      fc.asyncProperty(
        hostileName.filter((s) => !s.startsWith('#')),
        hostileName,
        text,
        value,
        async (measurement, device, note, v) => {
          time += 1;
          await client.write(
            encodePoint({
              measurement,
              tags: [['device', device]],
              fields: [
                ['value', v],
                ['note', note],
              ],
              time,
            }),
            'autogen',
          );
          const from = measurementIn(db, 'autogen', measurement);
          const scope = whereScope({ device, from: time, to: time + 1 })!;
          expect(rawPoints(await client.query(rawQuery(from, scope)))).toEqual([{ ts: time, value: v, device }]);
          const notes = await client.query({
            q: `SELECT "note" FROM ${from} WHERE ${scope.where}`,
            params: scope.params,
          });
          // Line breaks in text become one space, on purpose; everything else comes back as it was.
          expect(firstSeries(notes)?.values).toEqual([[time, note.replace(/[\r\n]+/g, ' ')]]);
        },
      ),
      { numRuns: 100 },
    );
    client.close();
    await influxql(`DROP DATABASE "${db}"`);
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
      await expect(
        store.write([{ device: 'd1', metric: 'noise', ts: recent + 1, value: 51, zone: 'z1' }]),
      ).rejects.toThrow();
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
