// Serial gateways: the frame decoder as pure logic, then the hub reading a real pty pair through
// the real serialport binding while the simulated gateway writes to the other end.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../hub/config/config.ts';
import type { Entry, StatusChange } from '../hub/domain/reading.ts';
import { Ingest } from '../hub/ingest/ingest.ts';
import { KnownDevices } from '../hub/ingest/known-devices.ts';
import { frameChecksum } from '../hub/domain/frame.ts';
import { FrameSplitter, openFrame, parseFrame, type LineNoise } from '../hub/ingest/parsers/frame.ts';
import { RejectionLog } from '../hub/ingest/rejections.ts';
import { Journal } from '../hub/journal/journal.ts';
import type { GatewayState } from '../hub/sources/serial.ts';
import { createMetrics } from '../hub/telemetry/metrics.ts';
import {
  encodeFrame,
  gatewayFrame,
  heartbeatFrame,
  readingFrame,
  type ReadingFrame,
} from '../sensors-firmware-sim/frame.ts';
import { startSerialGateway, type SerialGateway } from '../sensors-firmware-sim/serial-gateway.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startPtyPair, type PtyPair } from '../sensors-firmware-sim/pty.ts';

const run = promisify(execFile);
const NOW = Date.UTC(2026, 10, 29, 9, 0, 0);

function split(chunks: Array<string | Buffer>, maxBytes?: number) {
  const frames: string[] = [];
  const noise: Array<[LineNoise, number]> = [];
  const splitter = new FrameSplitter({
    onFrame: (f) => frames.push(f),
    onNoise: (n, bytes) => noise.push([n, bytes]),
    ...(maxBytes !== undefined && { maxBytes }),
  });
  for (const chunk of chunks) splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'latin1'));
  return { frames, noise, splitter };
}

describe('serial frame decoder', () => {
  it('computes the NMEA XOR checksum', () => {
    // The classic NMEA-0183 example sentence, checksum 47.
    expect(frameChecksum('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')).toBe('47');
    expect(encodeFrame(['FWG', 'gw-1', 42])).toBe(`$FWG,gw-1,42*${frameChecksum('FWG,gw-1,42')}\r\n`);
  });

  it('opens a frame with a good checksum, in either hex case, and refuses a bad one', () => {
    const line = readingFrame({ device: 'env-1', metric: 'co2', value: 812 }).trimEnd();
    expect(openFrame(line)).toEqual({ ok: true, tag: 'FWR', id: 'env-1' });
    const lower = `${line.slice(0, -2)}${line.slice(-2).toLowerCase()}`;
    expect(openFrame(lower).ok).toBe(true);
    const wrong = line.replace('812', '813');
    expect(openFrame(wrong)).toMatchObject({ ok: false, problem: 'bad_checksum' });
    expect(openFrame('$FWR,env-1,co2,812')).toMatchObject({ ok: false, problem: 'garbage' });
    expect(openFrame(encodeFrame(['GPGGA', '123519']).trimEnd())).toMatchObject({
      ok: false,
      problem: 'garbage',
      detail: expect.stringContaining('unknown frame type') as unknown,
    });
  });

  it('reassembles frames split across reads, down to one byte per read', () => {
    const a = readingFrame({ device: 'env-1', metric: 'temperature', value: 23.4 });
    const b = gatewayFrame({ gateway: 'gw-1', uptimeS: 3600 });
    const { frames, noise } = split((a + b).split(''));
    expect(frames).toEqual([a.trimEnd(), b.trimEnd()]);
    expect(noise).toEqual([]);
  });

  it('counts garbage between frames once per piece and resynchronises on the next $', () => {
    const a = readingFrame({ device: 'env-1', metric: 'co2', value: 700 });
    const b = readingFrame({ device: 'env-1', metric: 'co2', value: 701 });
    // junk, then a frame cut short by the next '$', then a whole one; stray line ends are not junk
    const { frames, noise } = split(['\r\n\x00\xff~junk', a, '\r\n', a.slice(0, 10), b]);
    expect(frames).toEqual([a.trimEnd(), b.trimEnd()]);
    expect(noise).toEqual([
      ['garbage', 7],
      ['garbage', 10],
    ]);
  });

  it('drops a line longer than the maximum, counts it once and keeps its memory bounded', () => {
    const a = readingFrame({ device: 'env-1', metric: 'noise', value: 55 });
    const long = `$FWR,${'x'.repeat(500)}\r\n`;
    const { frames, noise } = split([long.slice(0, 100), long.slice(100), 'trailing junk', a], 64);
    expect(noise).toEqual([
      ['too_long', 64],
      ['garbage', 13],
    ]);
    expect(frames).toEqual([a.trimEnd()]);
  });

  it('counts a frame cut off by the port closing as garbage', () => {
    const { frames, noise, splitter } = split(['$FWR,env-1,co']);
    splitter.reset();
    expect(frames).toEqual([]);
    expect(noise).toEqual([['garbage', 13]]);
  });

  it('parses each frame type into what ingest checks', () => {
    expect(
      parseFrame(readingFrame({ device: 'env-1', metric: 'temperature', value: 23.45, ts: NOW, seq: 812 })),
    ).toEqual({
      kind: 'telemetry',
      values: [{ metric: 'temperature', value: 23.45, ts: NOW, seq: 812 }],
    });
    expect(parseFrame(readingFrame({ device: 'env-1', metric: 'co2', value: 640, seq: 7 }))).toEqual({
      kind: 'telemetry',
      values: [{ metric: 'co2', value: 640, seq: 7 }],
    });
    expect(parseFrame(readingFrame({ device: 'env-1', metric: 'co2', value: 640 }))).toEqual({
      kind: 'telemetry',
      values: [{ metric: 'co2', value: 640 }],
    });
    expect(
      parseFrame(
        heartbeatFrame({
          device: 'h-1',
          kind: 'headset',
          status: 'degraded',
          components: { headset: { state: 'degraded', code: 'noise' }, mic: { state: 'ok' } },
        }),
      ),
    ).toEqual({
      kind: 'heartbeat',
      heartbeat: {
        status: 'degraded',
        kind: 'headset',
        components: { headset: { state: 'degraded', code: 'noise' }, mic: { state: 'ok' } },
      },
    });
    expect(parseFrame(gatewayFrame({ gateway: 'gw-1', uptimeS: 3600 }))).toEqual({
      kind: 'heartbeat',
      heartbeat: { kind: 'gateway', status: 'ok', components: {}, uptimeS: 3600 },
    });
  });

  it('refuses malformed fields with a reason', () => {
    expect(() => parseFrame(encodeFrame(['FWR', 'env-1', 'co2']))).toThrow(/expected \$FWR,device,metric,value/);
    expect(() => parseFrame(encodeFrame(['FWR', 'env-1', 'co2', 1, 'yesterday']))).toThrow(
      /ts_ms must be a whole number/,
    );
    expect(() => parseFrame(encodeFrame(['FWH', 'h-1', 'toaster', 'ok']))).toThrow(/"kind" must be one of/);
    expect(() => parseFrame(encodeFrame(['FWH', 'h-1', 'headset', 'ok', 'mic']))).toThrow(/must be name=state:code/);
    expect(() => parseFrame(encodeFrame(['FWG', 'gw-1', '-5']))).toThrow(/uptime_s must be a whole number/);
  });

  it('sends frame content through ingest, which refuses hostile ids and bad values with a reason', async () => {
    const journal: Entry[] = [];
    const rejections = new RejectionLog({ capacity: 100, now: () => NOW, log: () => undefined });
    const ingest = new Ingest({
      settings: {
        maxClockSkewMs: 300_000,
        maxReplayAgeMs: 7 * 86_400_000,
        maxPayloadBytes: 65_536,
        maxMetricsPerDevice: 8,
        maxComponentsPerDevice: 8,
        acceptUndeclaredDevices: true,
      },
      declaredZones: new Map(),
      knownDevices: new KnownDevices({ max: 1000, configured: [] }),
      append: async (entries) => void journal.push(...entries),
      rejections,
      metrics: createMetrics(),
    });
    const send = (frame: string, zone?: string) => {
      const opened = openFrame(frame.trimEnd());
      if (!opened.ok) throw new Error(opened.detail);
      return ingest.accept({
        source: 'serial',
        kind: 'frame',
        device: opened.id,
        payload: Buffer.from(frame.trimEnd(), 'latin1'),
        receivedAt: NOW,
        ...(zone && { zone }),
      });
    };
    expect(
      await send(readingFrame({ device: 'env-1', metric: 'temperature', value: 23.4, seq: 1 }), 'floor-a'),
    ).toMatchObject({ accepted: 1, rejected: 0 });
    for (const hostile of ['../etc', "x';DROP", 'a b', 'é-1', '']) {
      const outcome = await send(encodeFrame(['FWR', hostile, 'temperature', 20]));
      expect(outcome.problems).toEqual([
        {
          reason: 'invalid_id',
          device: hostile,
          detail: expect.stringMatching(/^device id .* (contains|must start|is empty)/) as unknown,
        },
      ]);
    }
    expect((await send(readingFrame({ device: 'env-1', metric: 'temperature', value: 900 }))).problems[0]?.reason).toBe(
      'out_of_range',
    );
    expect((await send(encodeFrame(['FWR', 'env-1', 'temperature', 'warm']))).problems[0]).toMatchObject({
      reason: 'invalid_value',
      detail: 'temperature must be a finite number, found "warm"',
    });
    expect((await send(encodeFrame(['FWR', 'env-1', 'bad metric', 1]))).problems[0]?.reason).toBe('invalid_metric');
    expect(journal).toEqual([
      {
        type: 'readings',
        readings: [{ device: 'env-1', metric: 'temperature', value: 23.4, ts: NOW, zone: 'floor-a', seq: 1 }],
      },
    ]);
    expect(rejections.list().every((r) => r.source === 'serial')).toBe(true);
  });
});

describe('serial configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'floorwatch-serial-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (yaml: string) => {
    writeFileSync(join(dir, 'f.yaml'), yaml);
    return loadConfig({ env: { FLOORWATCH_CONFIG: 'f.yaml' }, cwd: dir });
  };

  it('fills in the defaults of a port', () => {
    const config = load(
      'zones: [{id: floor-a}]\nserial: [{path: /dev/ttyUSB0, gateway: gw-1, devices: {env-1: floor-a}}]\n',
    );
    expect(config.serial).toEqual([
      {
        path: '/dev/ttyUSB0',
        baud_rate: 9600,
        gateway: 'gw-1',
        alive_interval: '10s',
        devices: { 'env-1': 'floor-a' },
      },
    ]);
  });

  it('names every mistake in the serial section', () => {
    let problems: string[] = [];
    try {
      load(
        [
          'zones: [{id: floor-a}]',
          'serial:',
          '  - {path: /dev/ttyUSB0, gateway: "gw 1", baud_rate: fast, devices: {env-1: floor-b}}',
          '  - {path: /dev/ttyUSB0, gateway: gw-2, devices: {env-1: floor-a, "../x": floor-a}}',
        ].join('\n'),
      );
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^serial\.0\.gateway \(found "gw 1"\): must be 1-64 letters/),
        expect.stringMatching(/^serial\.0\.baud_rate \(found "fast"\): must be a whole number/),
        expect.stringMatching(/^serial\.1\.devices\.\.\.\/x.*must be 1-64 letters/),
      ]),
    );
    // Cross-checks run once the fields themselves are right.
    const crossChecked = () =>
      load(
        [
          'zones: [{id: floor-a}]',
          'serial:',
          '  - {path: /dev/ttyUSB0, gateway: gw-1, devices: {env-1: floor-b}}',
          '  - {path: /dev/ttyUSB0, gateway: gw-1, zone: lobby, devices: {env-1: floor-a}}',
        ].join('\n'),
      );
    expect(crossChecked).toThrow(ConfigError);
    try {
      crossChecked();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        expect.stringMatching(
          /^serial\.0\.devices\.env-1 \(found "floor-b"\): names zone "floor-b", which is not under zones/,
        ),
        expect.stringMatching(/^serial\.1\.path .*listed twice/),
        expect.stringMatching(/^serial\.1\.gateway .*listed on two ports/),
        expect.stringMatching(/^serial\.1\.zone \(found "lobby"\): names zone "lobby", which is not under zones/),
        expect.stringMatching(/^serial\.1\.devices\.env-1 .*already behind the gateway on \/dev\/ttyUSB0/),
      ]);
    }
  });
});

describe('serial gateways through a real pty pair', () => {
  const sensors = ['env-1', 'env-2', 'env-3', 'env-4', 'env-5'].flatMap((device, d) => [
    { device, metric: 'temperature', read: () => 20 + d },
    { device, metric: 'co2', read: () => 600 + d },
  ]);
  let line: PtyPair;
  let quietLine: PtyPair;
  let hub: TestHub;
  let gateway: SerialGateway;
  const statuses: string[] = [];
  let subscriber: mqtt.MqttClient;
  const gatewayState = async (id: string) =>
    (await hub.json<{ gateways: GatewayState[] }>('/api/v1/gateways')).gateways.find((g) => g.gateway === id);
  /** Waits for a gateway state; a timeout shows the last state seen. */
  const gatewayWhen = async (id: string, holds: (g: GatewayState) => boolean, what: string): Promise<GatewayState> => {
    let last: GatewayState | undefined;
    return eventually(
      async () => {
        last = await gatewayState(id);
        return last !== undefined && holds(last) && last;
      },
      { what },
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen: ${JSON.stringify(last)}`);
    });
  };

  beforeAll(async () => {
    [line, quietLine] = await Promise.all([startPtyPair(), startPtyPair()]);
    hub = await startTestHub({
      config: {
        zones: [{ id: 'floor-a' }, { id: 'server-room', type: 'server_room' }],
        serial: [
          {
            path: line.hubPath,
            gateway: 'gw-1',
            baud_rate: 115200,
            devices: { 'env-1': 'floor-a', 'env-2': 'floor-a', 'env-3': 'server-room' },
          },
          { path: quietLine.hubPath, gateway: 'gw-quiet', alive_interval: '100ms' },
        ],
      },
    });
    gateway = await startSerialGateway({
      path: line.simPath,
      gateway: 'gw-1',
      sensors,
      timers: false,
      baudRate: 115200,
    });
    subscriber = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'gateway-watch' });
    subscriber.on('message', (_topic, payload) => statuses.push(payload.toString()));
    await subscriber.subscribeAsync('floorwatch/gateways/gw-1/status', { qos: 1 });
  });
  afterAll(async () => {
    await subscriber?.endAsync();
    await gateway?.stop();
    await hub?.dispose();
    await line?.dispose();
    await quietLine?.dispose();
  });

  it('stores exactly the valid readings of 10,000 frames with 1 % corrupted and 1 % split, and counts the rest', async () => {
    gateway.setNoise({ corrupt: 0.01, split: 0.01, garbage: 0.005 });
    const intact = await gateway.sendReadings(10_000);
    const sent = gateway.stats();
    expect(sent).toMatchObject({ corrupted: 100, split: 100, garbage: 50, intact: 9_900, dropped: 0 });
    expect(intact).toHaveLength(9_900);

    const state = await gatewayWhen(
      'gw-1',
      (g) => g.frames.ok + g.frames.bad_checksum === 10_000,
      'the hub to read every frame',
    );
    expect(state.frames).toEqual({ ok: 9_900, bad_checksum: 100, garbage: 50, too_long: 0, rejected: 0, lost: 0 });
    expect(state).toMatchObject({ status: 'online', connected: true, baudRate: 115200 });

    const expected = new Map<string, Array<Required<ReadingFrame>>>();
    for (const r of intact)
      expected.set(`${r.device}/${r.metric}`, [...(expected.get(`${r.device}/${r.metric}`) ?? []), r]);
    for (const [key, readings] of expected) {
      const [device, metric] = key.split('/');
      const query = `/api/v1/readings?device=${device}&metric=${metric}&from=${readings[0]!.ts}&to=${readings.at(-1)!.ts + 1}&limit=100000`;
      const points = await eventually(
        async () => {
          const body = await hub.json<{ points: Array<{ ts: number; value: number }> }>(query);
          return body.points.length >= readings.length && body.points;
        },
        { what: `the readings of ${key} in the store` },
      );
      expect(points.map((p) => [p.ts, p.value])).toEqual(readings.map((r) => [r.ts, r.value]));
    }
    // The port's device map puts env-3 in the server room.
    const zones = await hub.json<{ points: Array<{ device: string }> }>(
      `/api/v1/readings?zone=server-room&metric=co2&from=-1d&to=${Date.now() + 60_000}&limit=100000`,
    );
    expect(new Set(zones.points.map((p) => p.device))).toEqual(new Set(['env-3']));

    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toContain('floorwatch_serial_frames_total{gateway="gw-1",result="bad_checksum"} 100');
    expect(metrics).toContain('floorwatch_serial_frames_total{gateway="gw-1",result="ok"} 9900');
  });

  it('marks a gateway offline after 3 alive intervals without a frame, and online when frames come back', async () => {
    const quiet = await startSerialGateway({
      path: quietLine.simPath,
      gateway: 'gw-quiet',
      sensors: [],
      timers: false,
    });
    try {
      await quiet.sendAlive();
      await gatewayWhen('gw-quiet', (g) => g.status === 'online', 'gw-quiet online');
      const offline = await gatewayWhen(
        'gw-quiet',
        (g) => g.status === 'offline',
        'gw-quiet offline after 300 ms of silence',
      );
      expect(offline.connected).toBe(true);
      expect(offline.since! - offline.lastFrameAt!).toBeGreaterThanOrEqual(300);
      await quiet.sendAlive();
      // The status changes as the frame arrives; the frame is counted once ingest has it.
      const again = await gatewayWhen(
        'gw-quiet',
        (g) => g.status === 'online' && g.frames.ok === 2,
        'gw-quiet online again',
      );
      expect(again.since).toBeGreaterThan(offline.since!);
    } finally {
      await quiet.stop();
    }
  });

  it('reconnects when the port disappears and comes back; the gateway goes offline and online exactly once each', async () => {
    await eventually(() => statuses.length > 0, { what: 'the retained gateway status' });
    expect(statuses).toEqual(['online']);

    await gateway.unplug();
    await line.stop();
    const offline = await gatewayWhen('gw-1', (g) => g.status === 'offline', 'gw-1 offline');
    expect(offline.connected).toBe(false);

    await line.start();
    await gateway.replug();
    // Opening a port flushes what waited in it, as a replugged USB adapter holds nothing either.
    await gatewayWhen('gw-1', (g) => g.connected, 'the hub to reopen the port');
    const after = await gateway.sendReadings(10);
    expect(after).toHaveLength(10);
    await gatewayWhen('gw-1', (g) => g.status === 'online', 'gw-1 online again');
    const last = after.at(-1)!;
    await eventually(
      async () => {
        const body = await hub.json<{ points: Array<{ ts: number }> }>(
          `/api/v1/readings?device=${last.device}&metric=${last.metric}&from=${last.ts}&to=${last.ts + 1}`,
        );
        return body.points.length === 1;
      },
      { what: 'a reading sent after the replug in the store' },
    );
    await eventually(() => statuses.length >= 3, { what: 'the status changes on MQTT' });
    // A client arriving now is told the current status, retained.
    const { stdout } = await run('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hub.hub.mqttPort),
      '-t',
      'floorwatch/gateways/gw-1/status',
      '-C',
      '1',
      '-W',
      '5',
    ]);
    expect(stdout.trim()).toBe('online');

    // The journal, read once the hub has stopped, holds the same changes in order.
    await hub.stop();
    expect(statuses).toEqual(['online', 'offline', 'online']);
    const journal = await Journal.open({ dir: join(hub.dataDir, 'journal') });
    const changes: StatusChange[] = [];
    for await (const { entry } of journal.readAll(1))
      if (entry.type === 'status' && entry.status.id === 'gw-1') changes.push(entry.status);
    await journal.close();
    expect(changes.map((c) => [c.subject, c.status])).toEqual([
      ['gateway', 'online'],
      ['gateway', 'offline'],
      ['gateway', 'online'],
    ]);
  });
});
