// SQL and InfluxQL injection through every query parameter of the API, against both stores.
// Queries bind their values, and ids and metric names are checked before a store sees them, so
// each attempt is a 400 or an empty answer — never an error, never another device's data — and
// the stored readings are intact afterwards.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

const ATTACKS = [
  "' OR '1'='1",
  "victim' OR device <> '",
  '" OR ""="',
  "x'; DROP TABLE readings; --",
  'temperature; DROP MEASUREMENT temperature',
  'temperature" WHERE 1=1 --',
  '/.*/',
  "x\\' OR 1=1",
  '$device',
  '@device',
  '1 OR 1=1',
  "-1h') OR ('1'='1",
  'mean); DROP DATABASE x; --',
  "' UNION SELECT name, sql, 1 FROM sqlite_master --",
  '\u0000',
  '%27%20OR%201%3D1',
];

/** Each route's query parameters, with values that make the rest of the query valid. */
const ROUTES: Array<{ path: string; base: Record<string, string>; params: string[] }> = [
  {
    path: '/api/v1/readings',
    base: { device: 'other', metric: 'temperature', from: '-1d' },
    params: ['device', 'metric', 'from', 'to', 'every', 'agg', 'limit'],
  },
  { path: '/api/v1/readings', base: { zone: 'zone-b', metric: 'temperature', from: '-1d' }, params: ['zone'] },
  { path: '/api/v1/devices', base: {}, params: ['zone', 'online'] },
  { path: '/api/v1/rejections', base: {}, params: ['device', 'reason', 'limit'] },
  { path: '/api/v1/audit', base: {}, params: ['action', 'limit'] },
];

const backends = [
  { name: 'SQLite', influx: false },
  { name: 'InfluxDB', influx: true },
] as const;

describe.each(backends)('injection through the API on $name', ({ influx }) => {
  let hub: TestHub;

  beforeAll(async () => {
    hub = await startTestHub({
      ...(influx && { influxUrl: `${inject('influxUrl')}/injection_${Date.now()}` }),
      config: {
        zones: [{ id: 'zone-a' }, { id: 'zone-b' }],
        devices: [{ id: 'victim', kind: 'sensor', zone: 'zone-a' }],
      },
    });
    const response = await hub.api('/api/v1/readings', {
      method: 'POST',
      headers: { 'content-type': 'application/senml+json' },
      body: JSON.stringify([{ bn: 'victim/', bt: Date.now() / 1000 - 60, n: 'temperature', u: 'Cel', v: 21.5 }]),
    });
    expect(response.status).toBe(200);
    await eventually(async () => (await victimReadings()).length === 1);
  });
  afterAll(async () => hub?.dispose());

  async function victimReadings(): Promise<number[]> {
    const body = await hub.json<{ points: Array<{ value: number }> }>(
      '/api/v1/readings?device=victim&metric=temperature&from=-1d',
    );
    return body.points.map((p) => p.value);
  }

  it("answers every attempt with a 400 or an empty answer, never a server error or the victim's data", async () => {
    let attempts = 0;
    for (const route of ROUTES) {
      for (const param of route.params) {
        for (const attack of ATTACKS) {
          const query = new URLSearchParams({ ...route.base, [param]: attack });
          const response = await hub.api(`${route.path}?${query.toString()}`);
          const text = await response.text();
          attempts++;
          expect([200, 400], `${route.path} ${param}=${attack}: ${text.slice(0, 200)}`).toContain(response.status);
          expect(text, `${route.path} ${param}=${attack}`).not.toMatch(/21\.5/);
          if (response.status === 200 && route.path === '/api/v1/readings')
            expect((JSON.parse(text) as { points: unknown[] }).points).toEqual([]);
        }
      }
    }
    for (const attack of ATTACKS) {
      const response = await hub.api(`/api/v1/devices/${encodeURIComponent(attack)}`);
      expect([400, 404], attack).toContain(response.status);
      // The live feed checks its filters before it starts streaming.
      const controller = new AbortController();
      const events = await hub.api(`/api/v1/events?${new URLSearchParams({ device: attack }).toString()}`, {
        signal: controller.signal,
      });
      expect(events.status, attack).toBe(400);
      controller.abort();
      attempts += 2;
    }
    expect(attempts).toBeGreaterThan(250);
  });

  it("still holds the victim's readings, unchanged, afterwards", async () => {
    expect(await victimReadings()).toEqual([21.5]);
    const zone = await hub.json<{ points: Array<{ value: number }> }>(
      '/api/v1/readings?zone=zone-a&metric=temperature&from=-1d',
    );
    expect(zone.points.map((p) => p.value)).toEqual([21.5]);
  });
});
