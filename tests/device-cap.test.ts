// limits.max_devices: a client inventing device ids over anonymous MQTT gets each one refused
// (too_many_devices) once the hub knows as many devices as it may, instead of growing every
// per-device structure. Declared devices are never refused; devices known before a restart stay
// known, from the device list on disk or from the journal. The refusals are logged once a minute,
// counted, and shown in health; a refused device leaves no retained message in the broker. The
// metrics a device reported before a restart count against its own bound from the device list too.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';

const MAX = 20;
const CONFIG = {
  zones: [{ id: 'floor-a' }],
  devices: [
    { id: 'decl-1', kind: 'sensor', zone: 'floor-a' },
    { id: 'decl-2', kind: 'sensor', zone: 'floor-a' },
  ],
  limits: { max_devices: MAX, messages_per_second: 100_000, message_burst: 100_000 },
};
const id = (n: number) => `dev-${String(n).padStart(4, '0')}`;

interface Rejection {
  device: string;
  reason: string;
  detail: string;
}
interface Health {
  status: string;
  checks: { devices: { ok: boolean; known: number; max: number; refused: number; detail: string } };
}

describe('the bound on known devices', () => {
  const dataDir = tempDir();
  let clock = Date.now();
  let hub: TestHub;
  let client: MqttClient;
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  const capLines = () => lines.filter((l) => l.includes('limits.max_devices allows'));

  const start = async () => {
    hub = await startTestHub({ dataDir, config: CONFIG, now: () => clock, log });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'inventor', reconnectPeriod: 0 });
  };
  const stop = async () => {
    await client.endAsync();
    await hub.stop();
  };
  const send = (device: string) =>
    client.publishAsync(`floorwatch/devices/${device}/telemetry`, JSON.stringify({ temperature: 21 }), { qos: 1 });
  const refused = async (device: string) => {
    const { rejections } = await hub.json<{ rejections: Rejection[] }>(`/api/v1/rejections?device=${device}`);
    return rejections.some((r) => r.reason === 'too_many_devices');
  };
  const seen = async (device: string) =>
    (await hub.json<{ lastSeen: number | null }>(`/api/v1/devices/${device}`).catch(() => ({ lastSeen: null })))
      .lastSeen;

  beforeAll(start);
  afterAll(async () => {
    await client?.endAsync();
    await hub?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('takes on devices up to the bound and refuses the rest, each message acknowledged', async () => {
    // 18 undeclared devices fill the bound beside the two declared ones; 1,000 more are refused.
    await Promise.all(Array.from({ length: 1018 }, (_, n) => send(id(n))));
    const page = await eventually(
      async () => {
        const body = await hub.json<{ total: number; devices: Array<{ id: string }> }>('/api/v1/devices?limit=5000');
        return body.total === MAX && body;
      },
      { what: 'the device list to hold the devices taken on' },
    );
    expect(page.devices.map((d) => d.id)).toEqual(
      ['decl-1', 'decl-2', ...Array.from({ length: 18 }, (_, n) => id(n))].sort(),
    );

    const { rejections, total } = await hub.json<{ rejections: Rejection[]; total: number }>(
      '/api/v1/rejections?reason=too_many_devices&limit=5000',
    );
    expect(total).toBe(1000);
    expect(rejections[0]?.detail).toMatch(
      /^the hub already knows 20 devices, the most limits.max_devices allows \(20\): device "dev-\d{4}" is not taken on; declare it under devices, forget devices gone from the floor \(floorwatch devices forget\), or raise limits.max_devices$/,
    );

    // A declared device is never refused, and a device already known keeps reporting.
    for (const device of ['decl-1', id(3)]) {
      clock += 1000;
      await send(device);
      await eventually(async () => (await seen(device)) === clock, { what: `${device} to be seen` });
      expect(await refused(device)).toBe(false);
    }

    const health = await hub.json<Health>('/api/v1/health');
    expect(health.status).toBe('degraded');
    expect(health.checks.devices).toMatchObject({ ok: false, known: MAX, max: MAX, refused: 1000 });
    expect(health.checks.devices.detail).toBe(
      '20 devices known, the most limits.max_devices allows (20): 1000 messages from further devices refused',
    );
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/^floorwatch_rejections_total\{reason="too_many_devices"\} 1000$/m);
    expect(metrics).toMatch(/^floorwatch_known_devices 20$/m);
  });

  it('logs the refusals once a minute, not once per invented id', async () => {
    expect(capLines()).toHaveLength(1);
    clock += 61_000;
    await send(id(5000));
    await eventually(() => capLines().length === 2, { what: "the next minute's log line" });
    expect(capLines()[1]).toMatch(/refused input from dev-5000: .*\(999 more refused in the last minute\)/);
  });

  it('keeps no retained message of a refused device', async () => {
    for (const device of [id(1), id(6000), id(2)])
      await client.publishAsync(`floorwatch/devices/${device}/status`, 'online', { qos: 1, retain: true });
    expect(await refused(id(6000))).toBe(true);
    const watcher = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'watcher', reconnectPeriod: 0 });
    try {
      const retained: string[] = [];
      watcher.on('message', (topic, _payload, packet) => {
        if (packet.retain) retained.push(topic);
      });
      await watcher.subscribeAsync('floorwatch/devices/+/status', { qos: 1 });
      // The broker hands retained messages out in the order it kept them: dev-6000's would come before dev-0002's.
      await eventually(() => retained.includes(`floorwatch/devices/${id(2)}/status`), {
        what: 'the retained status of a known device',
      });
      expect(retained).toEqual([`floorwatch/devices/${id(1)}/status`, `floorwatch/devices/${id(2)}/status`]);
    } finally {
      await watcher.endAsync();
    }
  });

  it('keeps the devices it knew across a restart: from the device list, and from the journal alone', async () => {
    await stop();
    await start();
    clock += 1000;
    await send(id(7));
    await send(id(7001));
    await eventually(async () => (await seen(id(7))) === clock, { what: `${id(7)} to be seen after the restart` });
    expect(await refused(id(7))).toBe(false);
    expect(await refused(id(7001))).toBe(true);

    await stop();
    rmSync(join(dataDir, 'devices.json'));
    await start();
    clock += 1000;
    await send(id(9));
    await send(id(7002));
    await eventually(async () => (await seen(id(9))) === clock, {
      what: `${id(9)} to be seen after a restart without the device list`,
    });
    expect(await refused(id(9))).toBe(false);
    expect(await refused(id(7002))).toBe(true);
    expect((await hub.json<Health>('/api/v1/health')).checks.devices).toMatchObject({ known: MAX, refused: 1 });
  });
});

describe('the bound on metrics per device, across a restart', () => {
  it('counts the metrics a device reported before, from the device list, when the journal no longer holds them', async () => {
    const dataDir = tempDir();
    const config = { ingest: { max_metrics_per_device: 1 } };
    let hub = await startTestHub({ dataDir, config });
    const send = async (payload: object) => {
      const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'env-1', reconnectPeriod: 0 });
      await client.publishAsync('floorwatch/devices/env-1/telemetry', JSON.stringify(payload), { qos: 1 });
      await client.endAsync();
    };
    const refusals = async () =>
      (await hub.json<{ rejections: Rejection[] }>('/api/v1/rejections?device=env-1')).rejections.map((r) => r.reason);
    try {
      await send({ temperature: 21 });
      // In the device list before the stop: a stop hands what the list had not taken yet over to the next start's journal, which this test removes.
      await eventually(
        async () => (await hub.json<{ metrics: string[] }>('/api/v1/devices/env-1')).metrics.length > 0,
        {
          what: 'env-1 in the device list',
        },
      );
      await hub.stop();
      // What the journal held is gone, as entries past the last 100,000 are at a start.
      rmSync(join(dataDir, 'journal'), { recursive: true });
      hub = await startTestHub({ dataDir, config });
      await send({ co2: 600, temperature: 21.5 });
      await eventually(async () => (await refusals()).includes('too_many_metrics'), {
        what: 'a second metric from env-1 refused',
      });
      const { metrics } = await hub.json<{ metrics: string[] }>('/api/v1/devices/env-1');
      expect(metrics).toEqual(['temperature']);
    } finally {
      await hub.dispose();
    }
  });
});
