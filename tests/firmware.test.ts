// The reference firmware against the real hub: an offline buffer that survives a hub killed for
// 20 s of device time and a firmware restart, birth and last will, the fleet file's checks, and
// load mode's counts.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SteppedClock } from '../sensors-firmware-sim/clock.ts';
import { Firmware } from '../sensors-firmware-sim/firmware.ts';
import { FleetError, loadFleet, parseFleet } from '../sensors-firmware-sim/fleet.ts';
import { runLoad } from '../sensors-firmware-sim/load.ts';
import type { TelemetryRecord } from '../sensors-firmware-sim/offline-buffer.ts';
import { seededRandom } from '../sensors-firmware-sim/random.ts';
import { eventually, spawnHub, startTestHub, tempDir, type HubProcess, type TestHub } from './support/hub.ts';
import { freePort } from './support/influxd.ts';

const run = promisify(execFile);
const INTERVAL_MS = 100;

/** Takes a co2 reading every 100 ms of simulated time, its value its index, and records it. */
function sampleEvery(clock: SteppedClock, fw: Firmware, produced: TelemetryRecord[]): void {
  const sample = (t: number) => {
    produced.push(fw.telemetry({ co2: 400 + produced.length }));
    clock.at(t + INTERVAL_MS, () => sample(t + INTERVAL_MS));
  };
  clock.at(clock.now(), () => sample(clock.now()));
}

async function storedCo2(
  url: string,
  device: string,
  from: number,
  to: number,
): Promise<Array<{ ts: number; value: number }>> {
  const response = await fetch(`${url}/api/v1/readings?device=${device}&metric=co2&from=${from}&to=${to}&limit=100000`);
  if (!response.ok) throw new Error(`readings: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { points: Array<{ ts: number; value: number }> }).points;
}

describe('firmware offline buffer', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('buffers through 20 s of hub outage and replays every reading once, at its own time', async () => {
    const dataDir = tempDir();
    let hub: HubProcess = await spawnHub(dataDir, { logLevel: 'warn' });
    cleanups.push(async () => {
      if (hub.child.exitCode === null && hub.child.signalCode === null) {
        hub.child.kill('SIGTERM');
        await hub.exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    });
    const start = Date.now() - 10 * 60_000;
    const clock = new SteppedClock(start);
    const fw = new Firmware({
      id: 'fw-outage',
      kind: 'sensor',
      url: hub.mqttUrl,
      clock,
      random: seededRandom(7),
      reconnect: { firstMs: 500, maxMs: 5_000 },
    });
    cleanups.push(() => fw.stop());
    const produced: TelemetryRecord[] = [];
    const hold = () => fw.ready();

    fw.start();
    await fw.online();
    sampleEvery(clock, fw, produced);
    await clock.advanceBy(20_000, hold);

    hub.child.kill('SIGKILL');
    expect((await hub.exited).signal).toBe('SIGKILL');
    const beforeOutage = produced.length;
    await clock.advanceBy(20_000, hold);
    const duringOutage = produced.length - beforeOutage;
    expect(duringOutage).toBeGreaterThanOrEqual(199);
    expect(fw.isConnected).toBe(false);
    expect(fw.stats.buffered).toBeGreaterThanOrEqual(duringOutage - 32);
    // Backoff 0.5, 1, 2, 4, 5, 5 s (less jitter) fits 5 to 8 attempts in 20 s.
    expect(fw.stats.failedConnects).toBeGreaterThanOrEqual(5);
    expect(fw.stats.failedConnects).toBeLessThanOrEqual(8);

    hub = await spawnHub(dataDir, { httpPort: hub.httpPort, mqttPort: hub.mqttPort, logLevel: 'warn' });
    await clock.advanceBy(20_000, hold);
    await fw.delivered();
    expect(fw.stats.connects).toBe(2);
    expect(fw.stats.dropped).toBe(0);

    const expected = produced.map((r) => ({ ts: r.ts, value: r.values.co2 }));
    expect(expected.length).toBeGreaterThanOrEqual(600);
    const stored = await eventually(
      async () => {
        const points = await storedCo2(hub.url, 'fw-outage', start, clock.now() + 1);
        return points.length >= expected.length && points;
      },
      { what: 'every reading in the store' },
    );
    expect(stored.map(({ ts, value }) => ({ ts, value }))).toEqual(expected);
  });

  it('keeps its buffer in a file across a firmware restart, dropping the oldest beyond its size', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.dispose());
    const file = join(hub.dataDir, 'fw-file.jsonl');
    const start = Date.now() - 60_000;
    const clock = new SteppedClock(start);
    // Nothing listens on this port: the device never gets a connection.
    const nowhere = `mqtt://127.0.0.1:${await freePort()}`;
    const first = new Firmware({
      id: 'fw-file',
      kind: 'sensor',
      url: nowhere,
      clock,
      random: seededRandom(1),
      buffer: { max: 50, file },
    });
    const produced: TelemetryRecord[] = [];
    first.start();
    sampleEvery(clock, first, produced);
    await clock.advanceBy(8_000 - 1, () => first.ready());
    expect(produced).toHaveLength(80);
    expect(first.stats).toMatchObject({ buffered: 50, dropped: 30, connects: 0 });
    await first.stop();

    const second = new Firmware({
      id: 'fw-file',
      kind: 'sensor',
      url: hub.mqttUrl,
      clock,
      random: seededRandom(2),
      buffer: { max: 50, file },
    });
    cleanups.push(() => second.stop());
    second.start();
    await second.delivered();
    const kept = produced.slice(30);
    const stored = await eventually(async () => {
      const points = await storedCo2(hub.hub.url, 'fw-file', start, clock.now() + 1);
      return points.length >= kept.length && points;
    });
    expect(stored.map(({ ts, value }) => ({ ts, value }))).toEqual(
      kept.map((r) => ({ ts: r.ts, value: r.values.co2 })),
    );
    // New readings continue after the buffered ones' seq, so the hub does not take them for repeats.
    expect(second.telemetry({ co2: 1 }).seq).toBeGreaterThan(produced.at(-1)!.seq);
  });

  it('says online when it connects; its last will says offline when the connection dies', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.dispose());
    const clock = new SteppedClock(Date.now());
    const fw = new Firmware({ id: 'fw-lwt', kind: 'sensor', url: hub.mqttUrl, clock, random: seededRandom(3) });
    cleanups.push(() => fw.stop());
    const status = async () =>
      (
        await run('mosquitto_sub', [
          '-h',
          '127.0.0.1',
          '-p',
          String(hub.hub.mqttPort),
          '-t',
          'floorwatch/devices/fw-lwt/status',
          '-C',
          '1',
          '-W',
          '5',
        ])
      ).stdout.trim();

    fw.start();
    await fw.online();
    await eventually(async () => (await status()) === 'online', { what: 'retained online' });
    fw.dropConnection();
    await eventually(async () => (await status()) === 'offline', { what: 'the last will' });
    expect((await hub.json<{ online: boolean }>('/api/v1/devices/fw-lwt')).online).toBe(false);
    fw.restoreConnection();
    await fw.online();
    await eventually(async () => (await status()) === 'online', { what: 'retained online again' });
  });
});

describe('fleet file', () => {
  const dir = tempDir('floorwatch-fleet-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names each field that is wrong, with the value found and what is allowed', () => {
    const file = join(dir, 'fleet.yaml');
    writeFileSync(
      file,
      [
        'zones:',
        '  - { id: floor-a, type: open_plan }',
        'sensors:',
        '  - { id: env-a1, zone: floor-b, interval: soon }',
        '  - { id: "env-{n}", count: 3, zone: floor-a, metrics: [co2, radon] }',
        'devices:',
        '  - { id: hs-a, count: 2, kind: headset, zone: floor-a }',
        'scenarios:',
        '  - { type: cooling_failure, zone: floor-a, at: 1m }',
        '  - { type: spikes, device: env-1, metric: noise, value: 120, at: 5m }',
        '  - { type: earthquake, at: 1m }',
      ].join('\n'),
    );
    let error: unknown;
    try {
      loadFleet(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FleetError);
    const problems = (error as FleetError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        `zones.0.type (found "open_plan"): must be one of "call_floor", "quiet_room", "server_room" [in ${file}]`,
        `sensors.0.interval (found "soon"): must be a duration such as "500ms", "10s", "15m" or "2h" [in ${file}]`,
        `sensors.1.metrics.1 (found "radon"): must be one of "temperature", "humidity", "co2", "fresh_air", "air_speed", "noise", "noise_peak" [in ${file}]`,
      ]),
    );
    expect(problems.some((p) => p.startsWith('scenarios.2.type'))).toBe(true);

    // Cross-field checks run once the fields themselves are right.
    expect(() =>
      parseFleet({
        zones: [{ id: 'floor-a' }],
        sensors: [
          { id: 'env-a1', zone: 'floor-b' },
          { id: 'env-{n}', count: 2, zone: 'floor-a', metrics: ['co2'] },
        ],
        devices: [{ id: 'hs-a', count: 2, kind: 'headset' }],
        scenarios: [
          { type: 'cooling_failure', zone: 'floor-a', at: '1m' },
          { type: 'spikes', device: 'env-1', metric: 'noise', value: 120, at: '5m' },
          { type: 'setback_stuck', zone: 'floor-a', at: '7h' },
          { type: 'stops_reporting', device: 'hs-a', at: '1m' },
        ],
      }),
    ).toThrow(
      new FleetError([
        'sensors.0.zone (found "floor-b"): names zone "floor-b", which is not under zones (known: floor-a) [in the fleet]',
        'devices.0.id (found "hs-a"): needs {n} in it to number 2 devices, e.g. "hs-a-{n}" [in the fleet]',
        'devices.0.id (found "hs-a"): device "hs-a" is listed twice [in the fleet]',
        'scenarios.0.zone (found "floor-a"): cooling_failure needs a zone of type server_room [in the fleet]',
        'scenarios.1.metric (found "noise"): sensor "env-1" does not measure noise (it measures co2) [in the fleet]',
        'scenarios.2.zone (found "floor-a"): setback_stuck needs a zone with a setback [in the fleet]',
        'scenarios.3.device (found "hs-a"): names "hs-a", which is not one of the sensors [in the fleet]',
      ]),
    );
  });

  it('expands counts and fills in the defaults', () => {
    const fleet = parseFleet({
      zones: [{ id: 'srv', type: 'server_room' }],
      sensors: [{ id: 'rack-{n}', count: 2, zone: 'srv' }],
    });
    expect(fleet.sensors.map((s) => [s.id, s.metrics, s.interval])).toEqual([
      ['rack-1', ['temperature', 'humidity'], 10_000],
      ['rack-2', ['temperature', 'humidity'], 10_000],
    ]);
    expect(fleet.zones[0]).toMatchObject({ seats: 0, shifts: [] });
  });
});

describe('load mode', () => {
  let hub: TestHub;
  afterAll(async () => hub?.dispose());

  it('reports sent == acknowledged on a healthy hub, for JSON and SenML batches', async () => {
    hub = await startTestHub();
    const json = await runLoad({
      url: hub.mqttUrl,
      devices: 5,
      rate: 0,
      format: 'json',
      batch: 1,
      messages: 200,
      durationMs: 20_000,
      idPrefix: 'lj-',
    });
    expect(json).toMatchObject({
      devices: 5,
      connected: 5,
      messagesSent: 1000,
      messagesAcked: 1000,
      readingsSent: 1000,
      readingsAcked: 1000,
    });
    const senml = await runLoad({
      url: hub.mqttUrl,
      devices: 4,
      rate: 50,
      format: 'senml',
      batch: 10,
      messages: 20,
      durationMs: 20_000,
      idPrefix: 'ls-',
    });
    expect(senml).toMatchObject({
      connected: 4,
      messagesSent: 80,
      messagesAcked: 80,
      readingsSent: 800,
      readingsAcked: 800,
    });
    // A rate of 50 messages/s for 20 messages takes at least 380 ms.
    expect(senml.elapsedMs).toBeGreaterThanOrEqual(380);
    const counts = await eventually(
      async () => {
        const c = await Promise.all(
          ['lj-3', 'ls-2'].map(
            async (d) => (await storedCo2(hub.hub.url, d, Date.now() - 3_600_000, Date.now() + 1)).length,
          ),
        );
        return c[0] === 200 && c[1] === 200 && c;
      },
      { what: 'load readings stored' },
    );
    expect(counts).toEqual([200, 200]);
  });
});
