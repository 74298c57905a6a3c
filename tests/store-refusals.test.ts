// A store that refuses some readings for good must not hold back the rest. Against real InfluxDB
// servers: a field another writer left as an integer, and a series limit set low in the server's
// own configuration. The refused readings are listed with InfluxDB's reason, the others flow,
// and the storage_rejecting alert fires and resolves.
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import type { Reading } from '../hub/domain/reading.ts';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { StoreWriter, type RefusedReading } from '../hub/store/writer.ts';
import { createMetrics } from '../hub/telemetry/metrics.ts';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startInfluxd, type InfluxdHandle } from './support/influxd.ts';

interface Listed {
  stage: string;
  reason: string;
  device?: string;
  metric?: string;
  ts?: number;
  value?: number;
  detail: string;
}

async function influxql(base: string, q: string): Promise<void> {
  const res = await fetch(`${base}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
  // A statement InfluxDB could not run answers 200 too, with its error in the results.
  expect({ status: res.status, body: await res.text() }).toEqual({
    status: 200,
    body: '{"results":[{"statement_id":0}]}\n',
  });
}

async function stored(hub: TestHub, device: string, metric: string, ts: number): Promise<boolean> {
  return (
    (
      await hub.json<{ points: unknown[] }>(
        `/api/v1/readings?device=${device}&metric=${metric}&from=${ts}&to=${ts + 1}`,
      )
    ).points.length === 1
  );
}

async function refusedByStore(hub: TestHub): Promise<Listed[]> {
  return (await hub.json<{ rejections: Listed[] }>('/api/v1/rejections?stage=store')).rejections;
}

async function alertState(hub: TestHub, key: string): Promise<string | undefined> {
  const { alerts } = await hub.json<{ alerts: Array<{ key: string; state: string }> }>('/api/v1/alerts');
  return alerts.find((a) => a.key === key)?.state;
}

describe('readings a store refuses for good', () => {
  let hub: TestHub | undefined;
  let client: MqttClient | undefined;
  let server: InfluxdHandle | undefined;
  afterEach(async () => {
    await client?.endAsync();
    await hub?.dispose();
    client = undefined;
    hub = undefined;
  });
  afterAll(async () => {
    await server?.dispose();
  });

  const send = (device: string, body: Record<string, number>) =>
    client!.publishAsync(`floorwatch/devices/${device}/telemetry`, JSON.stringify(body), { qos: 1 });

  it('a field another writer left as an integer: the float readings are refused with the reason, other metrics keep being stored, storage_rejecting fires and resolves', async () => {
    const influx = inject('influxUrl');
    const db = `conflict_${Date.now()}`;
    // What another writer might leave behind: temperature as an integer field, in the hub's own policy.
    // In one statement: InfluxDB 1.x may not know a database for a moment after creating it.
    await influxql(influx, `CREATE DATABASE "${db}" WITH DURATION 30d REPLICATION 1 NAME "raw"`);
    const now = Date.now();
    // Nor a new policy, when it holds many databases: a write then answers 500, so it is sent again.
    await eventually(
      async () =>
        (
          await fetch(`${influx}/write?db=${db}&rp=raw&precision=ms`, {
            method: 'POST',
            body: `temperature,device=other value=1i ${now - 60_000}`,
          })
        ).status === 204,
      { what: "the other writer's integer field to be written" },
    );

    hub = await startTestHub({
      influxUrl: `${influx}/${db}`,
      config: { rules: { storage_rejecting_clears_after: '3s' } },
    });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'conflict-test' });

    // Acknowledged: durable in the journal. Then refused by InfluxDB, and listed, never silently gone.
    await send('t-1', { ts: now, temperature: 23.5 });
    await eventually(async () => (await refusedByStore(hub!)).length === 1, {
      timeoutMs: 5000,
      what: 'the refused temperature to be listed',
    });
    const [listed] = await refusedByStore(hub);
    expect(listed).toMatchObject({
      stage: 'store',
      reason: 'store_refused',
      device: 't-1',
      metric: 'temperature',
      ts: now,
      value: 23.5,
    });
    expect(listed!.detail).toMatch(
      /InfluxDB write failed \(400\): partial write: field type conflict: input field "value" on measurement "temperature" is type float, already exists as type integer/,
    );

    // Another device's CO₂ after it is stored within 2 s, and the hub is degraded, not down.
    await send('c-1', { ts: now + 1, co2: 700 });
    await eventually(() => stored(hub!, 'c-1', 'co2', now + 1), {
      timeoutMs: 2000,
      intervalMs: 20,
      what: 'the CO₂ reading to be stored',
    });
    const health = (await (await hub.api('/api/v1/health')).json()) as {
      status: string;
      checks: { store: { ok: boolean; refused: number } };
    };
    expect(health.status).toBe('degraded');
    expect(health.checks.store).toMatchObject({ ok: true, refused: 1 });
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toContain('floorwatch_store_refused_total 1');
    expect(metrics).toContain('floorwatch_set_aside_total{stage="store"} 1');

    await eventually(async () => (await alertState(hub!, 'storage_rejecting.hub')) === 'firing', {
      timeoutMs: 5000,
      what: 'storage_rejecting to fire',
    });
    // Once nothing has been refused for rules.storage_rejecting_clears_after, it resolves.
    await eventually(async () => (await alertState(hub!, 'storage_rejecting.hub')) === 'resolved', {
      timeoutMs: 10_000,
      what: 'storage_rejecting to resolve',
    });

    // The refusal is on disk: listed after a restart too.
    await client.endAsync();
    client = undefined;
    await hub.stop();
    hub = await startTestHub({ dataDir: hub.dataDir, influxUrl: `${influx}/${db}` });
    expect(await refusedByStore(hub)).toEqual([listed]);
  });

  it("InfluxDB's series limit: readings of existing series keep being stored, new series are refused and listed", async () => {
    server ??= await startInfluxd([['data', 'max-series-per-database', '3']]);
    hub = await startTestHub({ influxUrl: `${server.url}/series_limit` });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'series-test' });
    const now = Date.now();
    for (const device of ['s-1', 's-2', 's-3']) await send(device, { ts: now, co2: 500 });
    for (const device of ['s-1', 's-2', 's-3'])
      await eventually(() => stored(hub!, device, 'co2', now), { what: `${device}'s first reading` });

    // Two new series over the limit, sent between readings of series that exist.
    await send('s-4', { ts: now + 1, co2: 510 });
    await send('s-1', { ts: now + 1, co2: 511 });
    await send('s-5', { ts: now + 2, co2: 520 });
    await send('s-2', { ts: now + 2, co2: 521 });
    // s-2 may show before s-1: InfluxDB can store part of a batch it refused, and the writer then
    // writes the rest again, half by half.
    for (const [device, ts] of [
      ['s-1', now + 1],
      ['s-2', now + 2],
    ] as const) {
      await eventually(() => stored(hub!, device, 'co2', ts), {
        timeoutMs: 2000,
        intervalMs: 20,
        what: `${device}'s reading after the refused ones`,
      });
    }
    await eventually(async () => (await refusedByStore(hub!)).length === 2, { what: 'both new series to be listed' });
    const listed = await refusedByStore(hub);
    expect(listed.map((r) => [r.device, r.metric, r.ts, r.value])).toEqual([
      ['s-5', 'co2', now + 2, 520],
      ['s-4', 'co2', now + 1, 510],
    ]);
    for (const r of listed) expect(r.detail).toMatch(/max-series-per-database limit exceeded/);
    expect(await stored(hub, 's-4', 'co2', now + 1)).toBe(false);
  });

  it('InfluxDB drops a good point next to one over the series limit; the writer writes it again on its own', async () => {
    server ??= await startInfluxd([['data', 'max-series-per-database', '3']]);
    const store = new InfluxStore({ url: `${server.url}/series_quirk` });
    await store.init();
    const refused: RefusedReading[] = [];
    const writer = new StoreWriter({
      store,
      metrics: createMetrics(),
      log: pino({ level: 'silent' }),
      now: Date.now,
      setAside: async (r) => void refused.push(...r),
      minutesWaitingMax: 1000,
    });
    const now = Date.now();
    const at = (device: string, ts: number, value: number): Reading => ({ device, metric: 'co2', ts, value, zone: '' });
    await writer.write([{ type: 'readings', readings: [at('q-1', now, 1), at('q-2', now, 1), at('q-3', now, 1)] }], 1);
    // What InfluxDB 1.6 does with this batch alone: "dropped=2", yet it keeps only q-2's second point.
    await writer.write(
      [
        {
          type: 'readings',
          readings: [at('q-4', now + 1, 2), at('q-1', now + 1, 2), at('q-5', now + 2, 2), at('q-2', now + 2, 2)],
        },
      ],
      2,
    );
    expect(refused.map((r) => r.device)).toEqual(['q-4', 'q-5']);
    for (const device of ['q-1', 'q-2']) expect(await store.count({ device, from: now, to: now + 3 })).toBe(2);
    await store.close();
  });
});
