// Reading the floor while InfluxDB is stopped: every route that asks the store answers 503, says
// the store is not available and how many journal entries wait for it (the health report's
// backlog), and answers again once InfluxDB is back. Routes that do not ask the store keep working.
// A store that is up but has as many reads waiting as it takes says it is busy, and no more.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { outageAwareReads, ReadsUnavailable } from '../hub/api/store-outage.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import { DEFAULT_MAX_WAITING as MAX_WAITING } from '../hub/store/sqlite-threads.ts';
import { capturedLog, eventually, startTestHub, storeCaughtUp, type TestHub } from './support/hub.ts';
import { startInfluxd, type InfluxdHandle } from './support/influxd.ts';

const CONFIG = { zones: [{ id: 'floor-a' }], devices: [{ id: 't-1', kind: 'sensor', zone: 'floor-a' }] };
const STORE_ROUTES = [
  '/api/v1/readings?device=t-1&metric=temperature',
  '/api/v1/readings?zone=floor-a&metric=temperature&agg=mean&every=1m',
  '/api/v1/zones',
  '/api/v1/reports/shift',
  '/api/v1/reports/shift?format=html',
  '/api/v1/reports/equipment',
];

describe('reading the store while it is down', () => {
  let influxd: InfluxdHandle;
  let hub: TestHub;
  let device: MqttClient;
  const backlog = async () =>
    ((await (await hub.api('/api/v1/health')).json()) as { checks: { journal: { backlog: number } } }).checks.journal
      .backlog;

  beforeAll(async () => {
    influxd = await startInfluxd();
    hub = await startTestHub({ influxUrl: `${influxd.url}/outage_api`, config: CONFIG });
    device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1' });
  });
  afterAll(async () => {
    await device?.endAsync();
    await hub?.dispose();
    await influxd?.dispose();
  });

  it('answers 503 with the backlog on every route that reads the store, and 200 again once it is back', async () => {
    await device.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ temperature: 21.5 }), { qos: 1 });
    await storeCaughtUp(hub);
    for (const path of STORE_ROUTES)
      expect({ path, status: (await hub.api(path)).status }).toEqual({ path, status: 200 });

    await influxd.stop();
    for (let i = 0; i < 3; i++)
      await device.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ temperature: 22 + i }), {
        qos: 1,
      });
    // The three messages wait in the journal; the writer keeps retrying them.
    await eventually(async () => (await backlog()) === 3, { what: 'the backlog to hold the three messages' });

    for (const path of STORE_ROUTES) {
      const response = await hub.api(path);
      const body = (await response.json()) as { error: string; message: string };
      expect({ path, status: response.status }).toEqual({ path, status: 503 });
      expect(body.error).toBe('Service Unavailable');
      expect(body.message).toMatch(
        /^the reading store \(influxdb\) is not available: .*Nothing is lost: 3 journal entries wait to be stored and will be written when it is back/,
      );
      expect(response.headers.get('retry-after')).toBe('10');
    }
    // Routes that do not read the store are unaffected.
    expect((await hub.api('/api/v1/devices')).status).toBe(200);
    expect((await hub.api('/api/v1/alerts')).status).toBe(200);

    await influxd.start();
    await storeCaughtUp(hub);
    const answer = await eventually(
      async () => {
        const response = await hub.api('/api/v1/readings?device=t-1&metric=temperature');
        return response.status === 200 && ((await response.json()) as { points: Array<{ value: number }> });
      },
      { what: 'readings to answer again' },
    );
    expect(answer.points.map((p) => p.value).sort()).toEqual([21.5, 22, 23, 24]);
    for (const path of STORE_ROUTES)
      expect({ path, status: (await hub.api(path)).status }).toEqual({ path, status: 200 });
  });
});

describe('reading the store while it is busy', () => {
  it('answers 503 saying the store is busy, with nothing about the journal, past the reads it takes at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'floorwatch-busy-'));
    const store = new SqliteStore({ path: join(dir, 'busy.db'), readThreads: true });
    try {
      await store.init();
      const now = Date.now();
      await store.write([{ device: 't-1', metric: 'temperature', ts: now - 1000, value: 21.5, zone: 'floor-a' }]);
      // A backlog that a down store would report; a busy one must not.
      const reads = outageAwareReads({ store, backlog: () => 3 });
      const asked = Array.from({ length: MAX_WAITING + 2 }, () =>
        reads.count({ from: 0, to: now }).catch((err: unknown) => err),
      );
      const answers = await Promise.all(asked);
      expect(answers.slice(0, MAX_WAITING)).toEqual(Array(MAX_WAITING).fill(1));
      for (const refused of answers.slice(MAX_WAITING)) {
        expect(refused).toBeInstanceOf(ReadsUnavailable);
        expect((refused as Error).message).toBe(
          `the reading store (${store.name}) is busy: ${MAX_WAITING} reads already wait for the SQLite readers (storage.max_waiting_reads); try again shortly`,
        );
      }
      expect(await reads.count({ from: 0, to: now })).toBe(1);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['SQLite', () => undefined, 'the SQLite readers'],
    ['InfluxDB', () => `${inject('influxUrl')}/fw_busy_${process.pid}_${Date.now().toString(36)}`, 'InfluxDB'],
  ])(
    'on %s takes storage.max_waiting_reads from the configuration, and counts and logs (once) the reads it answers busy',
    async (_name, influxUrl, waitsFor) => {
      const { log, lines } = capturedLog('warn');
      const url = influxUrl();
      const hub = await startTestHub({
        config: { ...CONFIG, storage: { max_waiting_reads: 2 } },
        log,
        ...(url !== undefined && { influxUrl: url }),
      });
      try {
        // Asked 20 at a time (the first time while a reader thread starts) until more than two
        // waited at once.
        const answers: Array<{ status: number; body: { message?: string } }> = [];
        for (let burst = 0; burst < 10 && !answers.some((a) => a.status === 503); burst++)
          answers.push(
            ...(await Promise.all(
              Array.from({ length: 20 }, async () => {
                const res = await hub.api('/api/v1/readings?device=t-1&metric=temperature');
                return { status: res.status, body: (await res.json()) as { message?: string } };
              }),
            )),
          );
        const busy = answers.filter((a) => a.status === 503);
        expect(busy.length).toBeGreaterThan(0);
        expect(busy.length + answers.filter((a) => a.status === 200).length).toBe(answers.length);
        for (const { body } of busy)
          expect(body.message).toBe(
            `the reading store (${url === undefined ? 'sqlite' : 'influxdb'}) is busy: 2 reads already wait for ${waitsFor} (storage.max_waiting_reads); try again shortly`,
          );
        const metrics = await (await hub.api('/metrics')).text();
        expect(/^floorwatch_store_reads_busy_total (\d+)$/m.exec(metrics)?.[1]).toBe(String(busy.length));
        expect(lines.filter((l) => l.includes('storage.max_waiting_reads'))).toEqual([
          "the store's reads are busy: 2 already wait for it (storage.max_waiting_reads); more are answered 503 until it catches up",
        ]);
      } finally {
        await hub.dispose();
      }
    },
  );
});
