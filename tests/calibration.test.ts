// Calibration offsets per device and metric: from the configuration file (taken on again at a
// reload) and from an operator through `floorwatch devices calibrate`, applied at ingest to the
// next reading, the value as reported kept beside in the store, shown in the devices API, who and
// when in the audit log; kept across a restart; bad input refused and changing nothing.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { capturedLog, eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';

const run = promisify(execFile);

interface Point {
  ts: number;
  value: number;
  uncalibrated?: number;
}

const site = (offset: number) => ({
  zones: [{ id: 'floor-a', type: 'call_floor' }],
  devices: [{ id: 't-1', kind: 'sensor', zone: 'floor-a', calibration: { temperature: offset } }],
});

describe('calibration', () => {
  const dataDir = tempDir();
  let hub: TestHub | undefined;
  let client: MqttClient | undefined;
  let ts = Date.now() - 60_000;

  afterEach(async () => {
    await client?.endAsync();
    client = undefined;
    await hub?.stop();
    hub = undefined;
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const send = async (body: Record<string, number>) => {
    ts += 1000;
    await client!.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ ts, ...body }), { qos: 1 });
    return ts;
  };
  const pointAt = async (metric: string, at: number) =>
    eventually(async () =>
      (await hub!.json<{ points: Point[] }>(`/api/v1/readings?device=t-1&metric=${metric}&from=-1h`)).points.find(
        (p) => p.ts === at,
      ),
    );
  const calibrate = async (metric: string, offset: string) => {
    try {
      const { stdout } = await run(
        process.execPath,
        [
          ...['--import', 'tsx', 'hub/cli/main.ts', 'devices', 'calibrate', 't-1', metric],
          ...[`--offset=${offset}`, '--by', 'li.wei', '--url', hub!.hub.url],
        ],
        { env: { ...process.env, FLOORWATCH_CONFIG: join(dataDir, 'absent.yaml') } },
      );
      return { code: 0, out: stdout };
    } catch (err) {
      const e = err as { code: number; stderr: string };
      return { code: e.code, out: e.stderr };
    }
  };
  const put = async (device: string, metric: string, body: unknown) => {
    const response = await hub!.api(`/api/v1/devices/${device}/calibration/${metric}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('applies the file’s and an operator’s offsets to the next reading, keeps what the sensor said, and says who set them', async () => {
    hub = await startTestHub({ dataDir, config: site(-0.5) });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1', reconnectPeriod: 0 });
    const first = await send({ temperature: 23.9, noise_db: 50 });
    expect(await pointAt('temperature', first)).toEqual({ ts: first, value: 23.4, device: 't-1', uncalibrated: 23.9 });
    expect(await pointAt('noise_db', first)).toEqual({ ts: first, value: 50, device: 't-1' });

    const set = await calibrate('noise_db', '1.5');
    expect(set.code).toBe(0);
    expect(set.out).toContain('noise_db on t-1 is calibrated by +1.5 from the next reading');
    expect(set.out).toMatch(/temperature\s+-0.5 {2}\(configuration\)/);
    const second = await send({ noise_db: 50 });
    expect(await pointAt('noise_db', second)).toMatchObject({ value: 51.5, uncalibrated: 50 });
    const device = await hub.json<{ calibration: Record<string, unknown> }>('/api/v1/devices/t-1');
    expect((device.calibration.noise_db as { at: number }).at).toBeGreaterThan(first);
    expect(device.calibration).toEqual({
      noise_db: {
        offset: 1.5,
        source: 'operator',
        by: 'li.wei',
        at: (device.calibration.noise_db as { at: number }).at,
      },
      temperature: { offset: -0.5, source: 'configuration' },
    });
    const audit = await hub.json<{ entries: Array<{ who: string; details: Record<string, unknown> }> }>(
      '/api/v1/audit?action=device.calibrate',
    );
    expect(audit.entries[0]).toMatchObject({
      who: 'anonymous',
      details: { device: 't-1', metric: 'noise_db', offset: 1.5, before: 0, by: 'li.wei' },
    });
  });

  it('refuses an offset the file sets, one out of bounds, an unknown device; takes hostile metric names as names', async () => {
    hub = await startTestHub({ dataDir, config: site(-0.5) });
    const before = await hub.json<{ calibration: Record<string, unknown> }>('/api/v1/devices/t-1');
    expect(await put('t-1', 'temperature', { offset: 1, by: 'li.wei' })).toMatchObject({
      status: 409,
      body: {
        message: 'the configuration file calibrates temperature of t-1 (offset -0.5): change it there and reload',
      },
    });
    expect(await put('t-1', 'co2', { offset: 5000, by: 'li.wei' })).toMatchObject({
      status: 400,
      body: { message: 'offset must be a number from -1000 to 1000' },
    });
    expect(await put('t-1', 'co2', { offset: 1 })).toMatchObject({ status: 400 });
    expect(await put('nobody', 'co2', { offset: 1, by: 'li.wei' })).toMatchObject({ status: 404 });
    expect(await put('t-1', '__proto__', { offset: 1, by: 'li.wei' })).toMatchObject({ status: 400 });
    expect((await hub.json<{ calibration: unknown }>('/api/v1/devices/t-1')).calibration).toEqual(before.calibration);
    // Names a plain object would answer for itself are metrics like any other.
    const set = await put('t-1', 'toString', { offset: 2, by: 'li.wei' });
    expect(set.status).toBe(200);
    expect(Object.keys(set.body.calibration as object)).toEqual(['noise_db', 'toString', 'temperature']);
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1', reconnectPeriod: 0 });
    const at = await send({ constructor: 7, toString: 7 });
    expect(await pointAt('constructor', at)).toEqual({ ts: at, value: 7, device: 't-1' });
    expect(await pointAt('toString', at)).toEqual({ ts: at, value: 9, device: 't-1', uncalibrated: 7 });
  });

  it('keeps operator offsets across a restart, takes a changed file offset at a reload, and an offset of 0 removes one', async () => {
    hub = await startTestHub({ dataDir, config: site(-0.5) });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1', reconnectPeriod: 0 });
    // Set by the earlier tests on this data directory, before this start.
    const kept = await send({ noise_db: 40 });
    expect(await pointAt('noise_db', kept)).toMatchObject({ value: 41.5, uncalibrated: 40 });

    writeFileSync(join(dataDir, 'floorwatch.yaml'), stringify(site(-1.25)));
    const reload = await hub.api('/api/v1/config/reload', { method: 'POST' });
    expect(((await reload.json()) as { applied: string[] }).applied).toEqual(['devices changed: t-1']);
    const after = await send({ temperature: 24 });
    expect(await pointAt('temperature', after)).toMatchObject({ value: 22.75, uncalibrated: 24 });

    expect((await calibrate('noise_db', '0')).out).toMatch(/calibration of noise_db on t-1 removed/);
    const plain = await send({ noise_db: 40 });
    expect(await pointAt('noise_db', plain)).toEqual({ ts: plain, value: 40, device: 't-1' });
    expect(await calibrate('noise_db', 'a lot')).toMatchObject({ code: 2 });
  });

  it('starts on a calibration.json with records it cannot read, keeps the readable ones and names the devices left out', async () => {
    const damaged = tempDir();
    writeFileSync(
      join(damaged, 'calibration.json'),
      '{"t-1": {"noise_db": {"offset": 1.5, "by": "li.wei", "at": 1}}, "__proto__": 5, "constructor": null,' +
        ' "t-2": {"co2": {"offset": "a lot"}, "humidity": null}, "toString": [1]}',
    );
    const log = capturedLog('warn');
    hub = await startTestHub({ dataDir: damaged, config: site(-0.5), log: log.log });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1', reconnectPeriod: 0 });
    const at = await send({ noise_db: 40 });
    expect(await pointAt('noise_db', at)).toMatchObject({ value: 41.5, uncalibrated: 40 });
    expect(log.lines.find((l) => l.includes('not readable'))).toMatch(
      /operator offsets of 4 device\(s\) are not readable and are left out \(__proto__, constructor, t-2, toString\)/,
    );
    await client.endAsync();
    client = undefined;
    await hub.dispose();
    hub = undefined;
  });
});
