// Hostile and broken input through the real broker: each message is refused with its reason,
// the hub stays up, the sender stays connected, and a well-behaved device keeps flowing.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

interface Rejections {
  total: number;
  evicted: number;
  rejections: Array<{ device?: string; reason: string; detail: string; excerpt: string; topic?: string }>;
}

describe('hostile input', () => {
  let hub: TestHub;
  let good: MqttClient;
  let goodSent = 0;
  let goodTimer: NodeJS.Timeout;

  beforeAll(async () => {
    hub = await startTestHub();
    good = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'good-1' });
    // A well-behaved device publishing throughout.
    goodTimer = setInterval(() => {
      const seq = goodSent++;
      good
        .publishAsync(
          'floorwatch/devices/good-1/telemetry',
          JSON.stringify({ seq, ts: Date.now() - 100_000 + seq, humidity: 40 + (seq % 10) }),
          { qos: 1 },
        )
        .catch(() => undefined);
    }, 20);
  });
  afterAll(async () => {
    clearInterval(goodTimer);
    await good?.endAsync();
    await hub?.dispose();
  });

  async function rejectionsFor(device: string): Promise<Rejections['rejections']> {
    return (await hub.json<Rejections>(`/api/v1/rejections?device=${encodeURIComponent(device)}&limit=1000`))
      .rejections;
  }

  it('refuses each kind of bad message with its reason, without disconnecting the sender', async () => {
    const bad = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'bad-1' });
    let closed = false;
    bad.on('close', () => (closed = true));
    const topic = 'floorwatch/devices/bad-1/telemetry';
    const cases: Array<[string | Buffer, string, RegExp]> = [
      ['{"temperature": 23.4', 'invalid_json', /not valid JSON/],
      ['{"temperature": NaN}', 'invalid_json', /not valid JSON/],
      ['{"temperature": "NaN"}', 'invalid_value', /temperature must be a finite number, found "NaN"/],
      ['{"temperature": "Infinity"}', 'invalid_value', /finite number/],
      ['[{"n":"temperature","v":1e999}]', 'invalid_value', /finite number/],
      ['{"temperature": "warm"}', 'invalid_value', /"warm"/],
      ['{"temperature": 900}', 'out_of_range', /sensor fault/],
      // Just over what ingest takes, and within the packet limit, which leaves room for the topic.
      [Buffer.alloc(64 * 1024 + 100, 'x'), 'payload_too_large', /65636 bytes/],
      ['{"ts": "yesterday", "temperature": 20}', 'invalid_timestamp', /"ts" must be milliseconds/],
      ['[{"bn": 7, "n": "temperature", "v": 20}]', 'invalid_senml', /"bn" must be a string/],
      ['[{"bt": "now", "n": "temperature", "v": 20}]', 'invalid_senml', /"bt" must be a number/],
      ['[{"bn": "other-device/", "n": "temperature", "v": 20}]', 'device_mismatch', /other-device/],
      ['42', 'invalid_payload', /JSON object or a SenML array/],
    ];
    for (const [payload, reason, detail] of cases) {
      await bad.publishAsync(topic, payload, { qos: 1 });
      const [latest] = await rejectionsFor('bad-1');
      expect(latest?.reason, String(payload).slice(0, 40)).toBe(reason);
      expect(latest?.detail, String(payload).slice(0, 40)).toMatch(detail);
    }
    const [large] = (await rejectionsFor('bad-1')).filter((r) => r.reason === 'payload_too_large');
    expect(large?.excerpt.length).toBeLessThan(300);
    expect(closed).toBe(false);
    await bad.endAsync();
  });

  it('refuses hostile device ids in topics and SenML names', async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'ids-1' });
    const ids = [
      'with space',
      'with,comma',
      'with"quote',
      "with'quote",
      'back\\slash',
      'new\nline',
      'ünïcode',
      '-leading',
      'x'.repeat(65),
    ];
    for (const id of ids) {
      await client.publishAsync(`floorwatch/devices/${id}/telemetry`, '{"temperature":20}', { qos: 1 });
      const [latest] = await rejectionsFor(id);
      expect(latest?.reason, id).toBe('invalid_id');
    }
    await client.endAsync();
    for (const id of ['a+b', 'a#b', 'a/b', 'a b']) {
      const response = await hub.api('/api/v1/readings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ bn: `${id}/`, n: 'temperature', v: 20 }]),
      });
      expect(response.status, id).toBe(400);
      const body = (await response.json()) as { problems: Array<{ reason: string }> };
      expect(body.problems[0]?.reason, id).toMatch(/invalid_id|invalid_metric/);
    }
    // None of them became a device.
    const { devices } = await hub.json<{ devices: Array<{ id: string }> }>('/api/v1/devices');
    expect(devices.every((d) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(d.id))).toBe(true);
  });

  it('stores a reading with a timestamp years off at receive time and counts it', async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'clock-1' });
    const before = Date.now();
    await client.publishAsync(
      'floorwatch/devices/clock-1/telemetry',
      JSON.stringify({ ts: Date.UTC(2003, 0, 1), temperature: 22 }),
      { qos: 1 },
    );
    await client.publishAsync(
      'floorwatch/devices/clock-1/telemetry',
      JSON.stringify({ ts: Date.UTC(2041, 0, 1), humidity: 45 }),
      { qos: 1 },
    );
    await client.endAsync();
    const points = await eventually(async () => {
      const body = await hub.json<{ points: Array<{ ts: number }> }>(
        '/api/v1/readings?device=clock-1&metric=temperature&from=-1h',
      );
      return body.points.length > 0 && body.points;
    });
    expect(points[0]!.ts).toBeGreaterThanOrEqual(before);
    expect(await (await hub.api('/metrics')).text()).toMatch(/floorwatch_clock_corrections_total 2/);
  });

  it('caps one device at its metric limit when it sends 10,000 metric names, keeping the rejection log bounded', async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'many-1' });
    for (let batch = 0; batch < 20; batch++) {
      const doc: Record<string, number> = {};
      for (let i = 0; i < 500; i++) doc[`metric_${batch * 500 + i}`] = i;
      await client.publishAsync('floorwatch/devices/many-1/telemetry', JSON.stringify(doc), { qos: 1 });
    }
    await client.endAsync();
    const device = await eventually(async () => {
      const d = await hub.json<{ metrics: string[] }>('/api/v1/devices/many-1');
      return d.metrics.length === 64 && d;
    });
    expect(device.metrics.length).toBe(64);
    const log = await hub.json<Rejections>('/api/v1/rejections?reason=too_many_metrics&limit=5');
    expect(log.rejections[0]?.detail).toMatch(/already reports 64 metrics/);
    expect(log.total).toBeGreaterThanOrEqual(10_000 - 64);
    expect(log.evicted).toBeGreaterThan(0);
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/floorwatch_rejections_total\{reason="too_many_metrics"\} 9936/);
  });

  it('kept the well-behaved device flowing and the hub healthy throughout', async () => {
    // On a fast machine the tests above may take less than its first ten readings: it goes on
    // until it has sent more, so the check below is of more than a handful.
    await eventually(() => goodSent > 10, { what: 'the well-behaved device to send more than 10 readings' });
    clearInterval(goodTimer);
    const stored = await eventually(async () => {
      const body = await hub.json<{ points: unknown[] }>(
        '/api/v1/readings?device=good-1&metric=humidity&from=-1d&limit=100000',
      );
      return body.points.length >= goodSent && body.points.length;
    });
    expect(stored).toBe(goodSent);
    const health = await hub.api('/api/v1/health');
    expect(health.status).toBe(200);
  });
});
