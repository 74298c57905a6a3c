// The hub end to end through its real broker, journal and store, with mqtt.js, mosquitto's
// clients and plain HTTP — once on the embedded SQLite store and once on InfluxDB.
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, startTestHub, storeCaughtUp, type TestHub } from './support/hub.ts';

const run = promisify(execFile);

async function readingsOf(hub: TestHub, query: string): Promise<Array<{ ts: number; value: number; device?: string }>> {
  const body = await hub.json<{ points: Array<{ ts: number; value: number }> }>(`/api/v1/readings?${query}&from=-1d`);
  return body.points;
}

const backends = [
  { name: 'SQLite', influx: false },
  { name: 'InfluxDB', influx: true },
] as const;

describe.each(backends)('hub on $name', ({ influx }) => {
  let hub: TestHub;
  let influxUrl: string | undefined;

  beforeAll(async () => {
    influxUrl = influx ? `${inject('influxUrl')}/hub_${Date.now()}` : undefined;
    hub = await startTestHub({
      ...(influxUrl && { influxUrl }),
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        devices: [{ id: 'h-1', kind: 'headset', zone: 'floor-a', heartbeat_interval: '30s' }],
      },
    });
  });
  afterAll(async () => hub?.dispose());

  it('stores a QoS 1 reading from mqtt.js and returns it from the API', async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1' });
    const ts = Date.now() - 5000;
    await client.publishAsync(
      'floorwatch/devices/t-1/telemetry',
      JSON.stringify({ ts, temperature: 23.4, humidity: 41 }),
      { qos: 1 },
    );
    await client.endAsync();
    const points = await eventually(async () => {
      const p = await readingsOf(hub, 'device=t-1&metric=temperature');
      return p.length > 0 && p;
    });
    expect(points).toEqual([{ ts, value: 23.4, device: 't-1' }]);
  });

  it('stores a reading sent with mosquitto_pub, a client no one here wrote', async () => {
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hub.hub.mqttPort),
      '-q',
      '1',
      '-i',
      'mp-1',
      '-t',
      'floorwatch/devices/mp-1/telemetry',
      '-m',
      '{"temperature":21.5}',
    ]);
    const points = await eventually(async () => {
      const p = await readingsOf(hub, 'device=mp-1&metric=temperature');
      return p.length > 0 && p;
    });
    expect(points.map((p) => p.value)).toEqual([21.5]);
    if (influxUrl) {
      // The same reading, read straight from InfluxDB as Grafana would.
      const url = new URL(influxUrl);
      const db = url.pathname.slice(1);
      const response = await fetch(
        `${url.origin}/query?db=${db}&q=${encodeURIComponent("SELECT value FROM temperature WHERE device = 'mp-1'")}`,
      );
      const body = (await response.json()) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> };
      expect(body.results[0]?.series?.[0]?.values.map((v) => v[1])).toEqual([21.5]);
    }
  });

  it('accepts MQTT over WebSocket at /mqtt on the HTTP port', async () => {
    const client = await mqtt.connectAsync(`${hub.hub.url.replace('http', 'ws')}/mqtt`, { clientId: 'ws-1' });
    await client.publishAsync('floorwatch/devices/ws-1/telemetry', JSON.stringify({ co2: 640 }), { qos: 1 });
    await client.endAsync();
    const points = await eventually(async () => {
      const p = await readingsOf(hub, 'device=ws-1&metric=co2');
      return p.length > 0 && p;
    });
    expect(points[0]?.value).toBe(640);
  });

  it('keeps its own status retained on floorwatch/hub/status', async () => {
    const { stdout } = await run('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hub.hub.mqttPort),
      '-t',
      'floorwatch/hub/status',
      '-C',
      '1',
      '-W',
      '5',
    ]);
    expect(stdout.trim()).toBe('online');
  });

  it('tracks devices: declared kind and zone, heartbeats, birth and last will', async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'h-1',
      will: { topic: 'floorwatch/devices/h-1/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await client.publishAsync('floorwatch/devices/h-1/status', 'online', { qos: 1, retain: true });
    await client.publishAsync(
      'floorwatch/devices/h-1/heartbeat',
      JSON.stringify({
        kind: 'headset',
        status: 'degraded',
        components: { headset: { state: 'degraded', code: 'noise' } },
        fw: '1.4.2',
      }),
      { qos: 1 },
    );
    const online = await eventually(async () => {
      const { devices } = await hub.json<{ devices: Array<Record<string, unknown>> }>('/api/v1/devices');
      const device = devices.find((d) => d.id === 'h-1');
      return device?.lastHeartbeat ? device : undefined;
    });
    expect(online).toMatchObject({
      kind: 'headset',
      zone: 'floor-a',
      declared: true,
      online: true,
      status: 'degraded',
      fw: '1.4.2',
      components: { headset: { state: 'degraded', code: 'noise' } },
    });

    // An abrupt disconnect: the broker publishes the last will.
    client.stream.destroy();
    const offline = await eventually(async () => {
      const device = await hub.json<Record<string, unknown>>('/api/v1/devices/h-1');
      return device.online === false ? device : undefined;
    });
    expect(offline.onlineBy).toBe('status');
    const { unassigned } = await hub.json<{ unassigned: string[] }>('/api/v1/devices');
    expect(unassigned).toContain('t-1');
    expect(unassigned).not.toContain('h-1');
  });

  it('takes SenML over HTTP POST into the same pipeline', async () => {
    const response = await hub.api('/api/v1/readings', {
      method: 'POST',
      headers: { 'content-type': 'application/senml+json' },
      body: JSON.stringify([
        { bn: 'n-1/', bt: Date.now() / 1000 - 60, bu: 'dB(A)', n: 'noise', v: 62 },
        { n: 'noise', t: 30, v: 64 },
      ]),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ accepted: 2, rejected: 0 });
    const points = await eventually(async () => {
      const p = await readingsOf(hub, 'device=n-1&metric=noise');
      return p.length === 2 && p;
    });
    expect(points.map((p) => p.value)).toEqual([62, 64]);

    const bad = await hub.api('/api/v1/readings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[{"n":"noise","v":60}]',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { problems: Array<{ detail: string }> }).problems[0]?.detail).toMatch(
      /names no device/,
    );
  });

  it('aggregates by zone, with LAeq as the energy average', async () => {
    const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
    const pack = [
      { bn: 'z-1/', bt: base / 1000, n: 'noise', v: 60 },
      { n: 'noise', t: 60, v: 70 },
    ];
    await hub.api('/api/v1/readings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(pack),
    });
    const body = await eventually(async () => {
      const b = await hub.json<{ points: Array<{ value: number }> }>(
        `/api/v1/readings?device=z-1&metric=noise&from=${base}&to=${base + 3_600_000}&agg=laeq`,
      );
      return b.points.length > 0 && b;
    });
    expect(body.points[0]?.value).toBeCloseTo(10 * Math.log10((10 ** 6 + 10 ** 7) / 2), 6);
  });

  it('streams readings as server-sent events', async () => {
    const controller = new AbortController();
    const response = await hub.api('/api/v1/events?device=sse-1', { signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'sse-1' });
    await client.publishAsync('floorwatch/devices/sse-1/telemetry', JSON.stringify({ humidity: 44 }), { qos: 1 });
    await client.endAsync();
    let text = '';
    while (!text.includes('event: reading')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    controller.abort();
    const data = text.split('\n').find((line) => line.startsWith('data: {'));
    expect(JSON.parse(data!.slice(6))).toMatchObject({ device: 'sse-1', metric: 'humidity', value: 44 });
  });

  it('answers a bad query with a 400 that names the parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/api/v1/readings?device=t-1', /metric/],
      ['/api/v1/readings?metric=temperature', /exactly one of device or zone/],
      ['/api/v1/readings?device=t-1&metric=temperature&from=yesterday', /from="yesterday" is not a time/],
      [
        '/api/v1/readings?device=t-1&metric=temperature&agg=median',
        /agg="median" is not one of mean, min, max, last, laeq/,
      ],
      ['/api/v1/readings?device=t-1&metric=temperature&every=1m', /every needs agg/],
      ['/api/v1/readings?device=t%201&metric=temperature', /device="t 1" contains " "/],
      ['/api/v1/readings?device=t-1&metric=temperature&from=-1h&to=-2h', /must be before to/],
      ['/api/v1/events?metric=co2%22%3E', /metric="co2\\">" must be a metric name/],
    ];
    for (const [path, message] of cases) {
      const response = await hub.api(path);
      expect(response.status, path).toBe(400);
      expect(((await response.json()) as { message: string }).message, path).toMatch(message);
    }
  });

  it('reports health, Prometheus metrics and its OpenAPI description', async () => {
    const health = await hub.api('/api/v1/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      checks: { broker: { ok: true }, store: { ok: true }, journal: { ok: true } },
    });
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/floorwatch_messages_received_total\{source="mqtt",kind="telemetry"\} [1-9]/);
    expect(metrics).toMatch(/floorwatch_readings_stored_total [1-9]/);
    expect(metrics).toMatch(/floorwatch_journal_lag_entries\{consumer="store"\} \d/);
    expect(metrics).toMatch(/floorwatch_store_write_seconds_count [1-9]/);
    expect(metrics).toMatch(/floorwatch_journal_flush_seconds_count [1-9]/);
    expect(Number(/floorwatch_journal_flush_seconds_sum (\S+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    const openapi = (await (await hub.api('/docs/json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/readings',
        '/api/v1/devices',
        '/api/v1/health',
        '/api/v1/rejections',
        '/api/v1/events',
      ]),
    );
  });
});

describe('hub restart', () => {
  it('remembers devices, does not take its own stop for their last wills, and does not store a re-sent reading twice', async () => {
    const { tempDir } = await import('./support/hub.ts');
    const dataDir = tempDir();
    const first = await startTestHub({ dataDir });
    const client = await mqtt.connectAsync(first.mqttUrl, {
      clientId: 'r-1',
      reconnectPeriod: 0,
      will: { topic: 'floorwatch/devices/r-1/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await client.publishAsync('floorwatch/devices/r-1/status', 'online', { qos: 1, retain: true });
    await client.publishAsync('floorwatch/devices/r-1/heartbeat', JSON.stringify({ kind: 'pc', status: 'ok' }), {
      qos: 1,
    });
    await client.publishAsync('floorwatch/devices/r-1/telemetry', JSON.stringify({ seq: 5, temperature: 22.5 }), {
      qos: 1,
    });
    await eventually(
      async () => (await first.json<{ lastHeartbeat: number | null }>('/api/v1/devices/r-1')).lastHeartbeat !== null,
    );
    // Still connected while the hub stops: the broker publishes its will, but the device did not go offline.
    await first.stop();
    client.end(true);

    const second = await startTestHub({ dataDir });
    try {
      expect(await second.json('/api/v1/devices/r-1')).toMatchObject({
        kind: 'pc',
        status: 'ok',
        metrics: ['temperature'],
        online: true,
      });
      // The same message again, as a device does after a lost PUBACK: journaled once.
      const again = await mqtt.connectAsync(second.mqttUrl, { clientId: 'r-1' });
      await again.publishAsync('floorwatch/devices/r-1/telemetry', JSON.stringify({ seq: 5, temperature: 22.5 }), {
        qos: 1,
      });
      await again.endAsync();
      expect(await (await second.api('/metrics')).text()).toMatch(/floorwatch_duplicates_dropped_total 1/);
      // The first hub's reading may be written only now, from the journal.
      await storeCaughtUp(second);
      const points = await readingsOf(second, 'device=r-1&metric=temperature');
      expect(points.length).toBe(1);
    } finally {
      await second.dispose();
    }
  });
});

describe('hub process', () => {
  it('stops cleanly on SIGTERM: exit 0, the hub says offline', async () => {
    const { spawnHub, tempDir } = await import('./support/hub.ts');
    const dir = tempDir();
    const hubProcess = await spawnHub(dir);
    const sub = spawn('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hubProcess.mqttPort),
      '-t',
      'floorwatch/hub/status',
      '-v',
    ]);
    let seen = '';
    let exit;
    try {
      await new Promise<void>((resolve) =>
        sub.stdout.on('data', (d: Buffer) => {
          seen += d.toString();
          if (seen.includes('online')) resolve();
        }),
      );
      hubProcess.child.kill('SIGTERM');
      exit = await hubProcess.exited;
    } finally {
      // Whatever happened above, neither process outlives the test.
      sub.kill();
      if (hubProcess.child.exitCode === null && hubProcess.child.signalCode === null) hubProcess.child.kill('SIGKILL');
      await hubProcess.exited;
      rmSync(dir, { recursive: true, force: true });
    }
    expect(exit.code).toBe(0);
    expect(seen).toContain('floorwatch/hub/status offline');
    expect(hubProcess.output()).toContain('hub stopped');
  });
});
