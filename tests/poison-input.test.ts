// One bad message must never stop storage or alerting. Hostile messages of every format the hub
// takes (JSON and SenML telemetry, heartbeats, status over MQTT; serial frames on a real pty;
// SenML over HTTP), with names, units, keys and ids drawn from a generator that includes the
// names Object.prototype answers to, go through the whole pipeline of a real hub on both stores;
// after each one a good reading from another device must be stored and readable within 2 s.
import { execFile } from 'node:child_process';
import { openSync, closeSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Entry } from '../hub/domain/reading.ts';
import { frameChecksum } from '../hub/domain/frame.ts';
import { Journal } from '../hub/journal/journal.ts';
import { startPtyPair, type PtyPair } from '../sensors-firmware-sim/pty.ts';
import { capturedLog, eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';

const run = promisify(execFile);

/** Names that a plain object resolves through its prototype, and the one that sets it. */
const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupSetter__',
  'prototype',
];

const name = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
  fc.constantFrom(
    'temperature',
    'co2',
    'noise_peak',
    'humidity',
    'Cel',
    'ppm',
    'dB(C)',
    '%RH',
    'K',
    '/',
    '',
    'ts',
    'seq',
  ),
  fc.string({ maxLength: 12 }),
);
const value = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(...PROTOTYPE_NAMES),
  fc.constant(null),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 1 }),
);
/** Topic-level device ids: the prototype names are valid ids, except __proto__. */
const deviceId = fc.constantFrom('evil', ...PROTOTYPE_NAMES);

/** JSON object text from pairs, so a "__proto__" key is written as a key, not swallowed by an object literal. */
function objectText(pairs: ReadonlyArray<readonly [string, string]>): string {
  return `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

type Hostile =
  | { via: 'mqtt'; device: string; kind: 'telemetry' | 'heartbeat' | 'status'; payload: string }
  | { via: 'serial'; line: string }
  | { via: 'http'; body: string };

const telemetryJson = fc
  .record({ device: deviceId, pairs: fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 4 }) })
  .map(({ device, pairs }): Hostile => ({
    via: 'mqtt',
    device,
    kind: 'telemetry',
    payload: objectText(pairs.map(([k, v]) => [k, JSON.stringify(v)])),
  }));

const senmlRecord = fc.record(
  { bn: name.map((n) => `${n}/`), n: name, u: name, v: value, bt: value },
  { requiredKeys: ['n', 'v'] },
);
const senml = fc.array(senmlRecord, { minLength: 1, maxLength: 3 });
const telemetrySenml = fc
  .record({ device: deviceId, pack: senml })
  .map(({ device, pack }): Hostile => ({ via: 'mqtt', device, kind: 'telemetry', payload: JSON.stringify(pack) }));

const heartbeat = fc
  .record({
    device: deviceId,
    kind: fc.oneof(name, fc.constantFrom('headset', 'pc')),
    status: fc.oneof(name, fc.constantFrom('ok', 'fault')),
    components: fc.array(fc.tuple(name, fc.oneof(name, fc.constantFrom('ok', 'degraded', 'fault')), name), {
      maxLength: 3,
    }),
  })
  .map(({ device, kind, status, components }): Hostile => ({
    via: 'mqtt',
    device,
    kind: 'heartbeat',
    payload: objectText([
      ['kind', JSON.stringify(kind)],
      ['status', JSON.stringify(status)],
      [
        'components',
        objectText(
          components.map(([c, state, code]) => [
            c,
            objectText([
              ['state', JSON.stringify(state)],
              ['code', JSON.stringify(code)],
            ]),
          ]),
        ),
      ],
    ]),
  }));

const status = fc
  .record({ device: deviceId, text: fc.oneof(name, fc.constantFrom('online', 'offline')) })
  .map(({ device, text }): Hostile => ({ via: 'mqtt', device, kind: 'status', payload: text }));

/** Field text a frame can carry: no line ends, no frame delimiters. */
const field = fc.oneof(name, fc.double().map(String)).map((f) => f.replace(/[\r\n$*,]/g, ''));
const frame = fc
  .oneof(
    fc.tuple(deviceId, field, field).map(([id, metric, v]) => `FWR,${id},${metric},${v}`),
    fc
      .tuple(deviceId, field, field, field, field, field)
      .map(([id, kind, st, comp, state, code]) => `FWH,${id},${kind},${st},${comp}=${state}:${code}`),
  )
  .map((body): Hostile => ({ via: 'serial', line: `$${body}*${frameChecksum(body)}\r\n` }));

const http = senml.map((pack): Hostile => ({ via: 'http', body: JSON.stringify(pack) }));

const hostileMessage = fc.oneof(telemetryJson, telemetrySenml, heartbeat, status, frame, http);

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
    }),
  ]);
}

async function serialFramesSeen(hub: TestHub): Promise<number> {
  const text = await (await hub.api('/metrics')).text();
  let total = 0;
  for (const m of text.matchAll(/^floorwatch_serial_frames_total\{gateway="gw-p"[^}]*\} (\d+)$/gm))
    total += Number(m[1]);
  return total;
}

interface Backend {
  name: string;
  influxUrl?: () => string;
}

const BACKENDS: Backend[] = [
  { name: 'SQLite' },
  { name: 'InfluxDB', influxUrl: () => `${inject('influxUrl')}/poison_${Date.now()}` },
];

describe.each(BACKENDS)('one bad message never stops storage or alerting ($name)', (backend) => {
  let pty: PtyPair;
  let hub: TestHub;
  let dataDir: string;
  let influxUrl: string | undefined;
  let client: MqttClient;
  let serial: number;
  let probeTs = Date.now() - 10 * 60_000;
  const config = () => ({
    zones: [{ id: 'floor-a' }],
    serial: [{ path: pty.hubPath, gateway: 'gw-p', baud_rate: 115200, devices: { 'env-p': 'floor-a' } }],
  });
  const start = async () => startTestHub({ dataDir, config: config(), ...(influxUrl !== undefined && { influxUrl }) });

  beforeAll(async () => {
    pty = await startPtyPair();
    dataDir = tempDir();
    influxUrl = backend.influxUrl?.();
    hub = await start();
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'hostile-sender' });
    serial = openSync(pty.simPath, 'w');
  });
  afterAll(async () => {
    if (serial !== undefined) closeSync(serial);
    await client?.endAsync();
    await hub?.dispose();
    await pty?.dispose();
  });

  /** A good reading from another device: stored and readable within 2 s, and health not down. */
  async function probeStored(what: string): Promise<void> {
    probeTs += 1;
    const ts = probeTs;
    await withTimeout(
      client.publishAsync('floorwatch/devices/probe/telemetry', JSON.stringify({ ts, co2: 600 }), { qos: 1 }),
      2000,
      `the probe's PUBACK after ${what}`,
    );
    await eventually(
      async () =>
        (await hub.json<{ points: unknown[] }>(`/api/v1/readings?device=probe&metric=co2&from=${ts}&to=${ts + 1}`))
          .points.length === 1,
      { timeoutMs: 2000, intervalMs: 20, what: `the probe's reading to be stored after ${what}` },
    );
    const health = (await (await hub.api('/api/v1/health')).json()) as { status: string };
    expect(health.status, `health after ${what}`).not.toBe('down');
  }

  async function send(message: Hostile): Promise<void> {
    if (message.via === 'mqtt') {
      await withTimeout(
        client.publishAsync(`floorwatch/devices/${message.device}/${message.kind}`, message.payload, { qos: 1 }),
        2000,
        'a hostile PUBACK',
      );
    } else if (message.via === 'http') {
      const res = await hub.api('/api/v1/readings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: message.body,
      });
      expect(res.status, message.body).toBeLessThan(500);
    } else {
      const before = await serialFramesSeen(hub);
      writeSync(serial, message.line);
      await eventually(async () => (await serialFramesSeen(hub)) > before, {
        timeoutMs: 2000,
        intervalMs: 10,
        what: 'the hub to read the serial frame',
      });
    }
  }

  it('the attack as it was found: a SenML record named toString in unit constructor', async () => {
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hub.hub.mqttPort),
      '-q',
      '1',
      '-t',
      'floorwatch/devices/evil/telemetry',
      '-m',
      '[{"n":"toString","u":"constructor","v":1}]',
    ]);
    await probeStored('the attack');
    // A metric named toString is just an unknown metric: kept, flagged, and its value a plain number.
    const { points } = await hub.json<{ points: Array<{ value: unknown }> }>(
      '/api/v1/readings?device=evil&metric=toString&from=-1h',
    );
    expect(points.map((p) => p.value)).toEqual([1]);
  });

  it('after each of 60 generated hostile messages, of every format, a good reading from another device is stored within 2 s', async () => {
    await fc.assert(
      fc.asyncProperty(hostileMessage, async (message) => {
        await send(message);
        await probeStored(JSON.stringify(message).slice(0, 300));
      }),
      { numRuns: 60, seed: 1130 },
    );
    // Nothing that is not a plain reading reached the journal: no stage after it had to set anything aside.
    const later = await hub.json<{ rejections: Array<{ stage: string }> }>('/api/v1/rejections?limit=100000');
    expect(later.rejections.filter((r) => r.stage !== 'ingest')).toEqual([]);
    // Alerting kept up as well: a peak now raises its alert at once.
    const peakTs = Date.now();
    await withTimeout(
      client.publishAsync('floorwatch/devices/probe/telemetry', JSON.stringify({ ts: peakTs, noise_peak: 140 }), {
        qos: 1,
      }),
      2000,
      'the peak PUBACK',
    );
    await eventually(
      async () =>
        (await hub.json<{ alerts: Array<{ key: string }> }>('/api/v1/alerts?state=firing')).alerts.some(
          (a) => a.key === 'noise_peak.probe',
        ),
      { timeoutMs: 2000, intervalMs: 20, what: 'the noise_peak alert of the probe' },
    );
  });

  it('after a restart on the same data, storage goes on', async () => {
    await client.endAsync();
    await hub.stop();
    hub = await start();
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'hostile-sender' });
    await probeStored('a restart');
  });
});

describe('an entry a consumer cannot handle', () => {
  it('is set aside by each consumer after a few attempts, listed with its stage, and everything after it flows', async () => {
    const dataDir = tempDir();
    let hub = await startTestHub({ dataDir });
    const before = Date.now() - 60_000;
    let client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'p-1' });
    await client.publishAsync('floorwatch/devices/p-1/telemetry', JSON.stringify({ ts: before, co2: 500 }), { qos: 1 });
    await eventually(
      async () =>
        (
          await hub.json<{ points: unknown[] }>(
            `/api/v1/readings?device=p-1&metric=co2&from=${before}&to=${before + 1}`,
          )
        ).points.length === 1,
    );
    await client.endAsync();
    await hub.stop();

    // An entry no consumer can read, as a release with a different entry format, or a bug, could leave.
    const journal = await Journal.open({ dir: join(dataDir, 'journal') });
    const malformed = { type: 'readings', readings: null } as unknown as Entry;
    const lsn = await journal.append([malformed]);
    await journal.close();

    const captured = capturedLog('warn');
    hub = await startTestHub({ dataDir, log: captured.log });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'p-1' });
    const after = Date.now();
    await client.publishAsync('floorwatch/devices/p-1/telemetry', JSON.stringify({ ts: after, noise_peak: 140 }), {
      qos: 1,
    });
    await eventually(
      async () =>
        (
          await hub.json<{ points: unknown[] }>(
            `/api/v1/readings?device=p-1&metric=noise_peak&from=${after}&to=${after + 1}`,
          )
        ).points.length === 1,
      { what: 'the reading after the entry to be stored' },
    );
    await eventually(
      async () =>
        (await hub.json<{ alerts: Array<{ key: string }> }>('/api/v1/alerts?state=firing')).alerts.some(
          (a) => a.key === 'noise_peak.p-1',
        ),
      { what: 'the alert after the entry' },
    );
    const { rejections } = await hub.json<{
      rejections: Array<{ stage: string; reason: string; lsn?: number; detail: string }>;
    }>('/api/v1/rejections');
    const stages = rejections
      .filter((r) => r.lsn === lsn)
      .map((r) => r.stage)
      .sort();
    expect(stages).toEqual(['devices', 'rules', 'store']);
    for (const r of rejections)
      expect(r).toMatchObject({
        reason: 'consumer_failed',
        detail: expect.stringMatching(/null|not iterable/) as unknown,
      });
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toContain('floorwatch_set_aside_total{stage="rules"} 1');
    // The rules' position moves past the entry without a word: it is where the engine's saved state is.
    const rulesAt = async () =>
      (
        await hub.json<{ checks: { journal: { consumers: Array<{ name: string; committedLsn: number }> } } }>(
          '/api/v1/health',
        )
      ).checks.journal.consumers.find((c) => c.name === 'rules')?.committedLsn ?? 0;
    await eventually(async () => (await rulesAt()) > lsn, { what: "the rules' position past the entry" });
    await client.endAsync();
    await hub.dispose();
    expect(captured.lines.filter((line) => line.includes('position'))).toEqual([]);
  });
});
