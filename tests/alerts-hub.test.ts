// Alerts end to end through the hub's real broker, journal and stores: retained MQTT messages, a
// signed webhook, the SSE stream, the alerts/silences/rules API, a restart on the same data dir,
// and an InfluxDB outage that raises one storage alert while the floor's alerts keep firing.
import { createServer, type Server } from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signature } from '../hub/notify/webhook.ts';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { headsetHeartbeat as heartbeat } from './support/mqtt.ts';
import { eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';
import { startInfluxd, type InfluxdHandle } from './support/influxd.ts';

const SECRET = 'webhook-secret-for-the-tests';
const ZONES = {
  site: { season: 'winter' },
  zones: [
    { id: 'floor-a', type: 'call_floor' },
    { id: 'server-room', type: 'server_room' },
  ],
};

interface Alert {
  id: number;
  key: string;
  state: string;
  severity: string;
  rule: string;
  ack?: { by: string; comment?: string };
  silencedBy: number[];
}

/** Every message on floorwatch/alerts/#, retained ones included. */
async function watchAlerts(
  url: string,
): Promise<{ client: MqttClient; messages: Array<{ topic: string; payload: string; retain: boolean }> }> {
  const client = await mqtt.connectAsync(url, { clientId: `watch-${Math.random().toString(36).slice(2)}` });
  const messages: Array<{ topic: string; payload: string; retain: boolean }> = [];
  client.on('message', (topic, payload, packet) =>
    messages.push({ topic, payload: payload.toString(), retain: packet.retain }),
  );
  await client.subscribeAsync('floorwatch/alerts/#', { qos: 1 });
  return { client, messages };
}

async function publish(url: string, device: string, body: Record<string, number>): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: device });
  await client.publishAsync(`floorwatch/devices/${device}/telemetry`, JSON.stringify(body), { qos: 1 });
  await client.endAsync();
}

async function alerts(hub: TestHub, query = ''): Promise<Alert[]> {
  return (await hub.json<{ alerts: Alert[] }>(`/api/v1/alerts${query}`)).alerts;
}

describe('alerts through the hub', () => {
  let hub: TestHub;
  let receiver: Server;
  const hooks: Array<{ body: string; signature: string }> = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooks.push({ body, signature: String(req.headers['x-floorwatch-signature']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const devices = ['p-1', 'p-2'].map((id) => ({ id, kind: 'sensor', zone: 'floor-a' }));
    hub = await startTestHub({
      config: { ...ZONES, devices, notify: { webhooks: [{ url: `http://127.0.0.1:${port}/hook`, secret: SECRET }] } },
    });
  });
  afterAll(async () => {
    await hub?.dispose();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('fires on a reading: retained MQTT message, signed webhook, SSE event, API; ack and resolution follow', async () => {
    const controller = new AbortController();
    const sse = await hub.api('/api/v1/events?zone=floor-a', { signal: controller.signal });
    const reader = sse.body!.getReader();
    const watch = await watchAlerts(hub.mqttUrl);

    await heartbeat(hub.mqttUrl, 'p-1', 'fault');
    const [alert] = await eventually(
      async () => {
        const list = await alerts(hub, '?state=firing&zone=floor-a&severity=critical');
        return list.length > 0 && list;
      },
      { what: 'the alert to fire' },
    );
    expect(alert).toMatchObject({
      key: 'equipment.headset.p-1',
      rule: 'equipment.headset',
      severity: 'critical',
      silencedBy: [],
    });

    const retained = await eventually(
      () => watch.messages.find((m) => m.topic === 'floorwatch/alerts/floor-a/equipment.headset.p-1'),
      { what: 'the MQTT alert message' },
    );
    expect(JSON.parse(retained.payload)).toMatchObject({
      event: 'firing',
      alert: {
        key: 'equipment.headset.p-1',
        state: 'firing',
        summary: 'headset p-1 in floor-a: headset fault: call drop-outs',
      },
    });

    let text = '';
    while (!text.includes('event: alert'))
      text += new TextDecoder().decode((await reader.read()).value as Uint8Array | undefined);
    controller.abort();
    expect(text).toMatch(/"event":"firing"/);

    const hook = await eventually(() => hooks.find((h) => h.body.includes('equipment.headset.p-1')), {
      what: 'the webhook',
    });
    expect(hook.signature).toBe(signature(SECRET, hook.body));

    const bad = await hub.api(`/api/v1/alerts/${alert!.id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"comment":"x"}',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/by is required/);
    const ack = await hub.api(`/api/v1/alerts/${alert!.id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'li.wei', comment: 'checking the headset' }),
    });
    expect(ack.status).toBe(200);
    expect(((await ack.json()) as Alert).ack).toMatchObject({ by: 'li.wei', comment: 'checking the headset' });
    const audit = await hub.json<{ entries: Array<{ who: string; action: string; details: Record<string, unknown> }> }>(
      '/api/v1/audit?action=alert.ack',
    );
    expect(audit.entries[0]).toMatchObject({
      who: 'anonymous',
      action: 'alert.ack',
      details: { alert: alert!.id, by: 'li.wei', comment: 'checking the headset' },
    });

    await heartbeat(hub.mqttUrl, 'p-1', 'ok');
    await eventually(() => watch.messages.some((m) => m.topic.endsWith('equipment.headset.p-1') && m.payload === ''), {
      what: 'the retained message to be cleared',
    });
    const detail = await hub.json<Alert & { history: Array<{ kind: string }>; historyOmitted: number }>(
      `/api/v1/alerts/${alert!.id}`,
    );
    expect(detail.state).toBe('resolved');
    expect(detail.history.map((h) => h.kind)).toEqual(['firing', 'acknowledged', 'resolved']);
    expect(detail.historyOmitted).toBe(0);
    await watch.client.endAsync();

    const later = await watchAlerts(hub.mqttUrl);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(later.messages.filter((m) => m.topic.endsWith('equipment.headset.p-1'))).toEqual([]);
    await later.client.endAsync();
    expect((await hub.api('/api/v1/alerts/999999')).status).toBe(404);
    expect(
      (
        await hub.api(`/api/v1/alerts/${alert!.id}/ack`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"by":"x"}',
        })
      ).status,
    ).toBe(409);
  });

  it('creates, lists and ends silences, refusing bad ones by name', async () => {
    const post = (body: unknown) =>
      hub.api('/api/v1/silences', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const cases: Array<[unknown, RegExp]> = [
      [{ matchers: {}, duration: '1h', createdBy: 'a' }, /at least one of zone, device, rule, severity, kind, key/],
      [{ matchers: { zone: 'floor a' }, duration: '1h', createdBy: 'a' }, /matchers.zone="floor a" contains " "/],
      [
        { matchers: { severity: 'loud' }, duration: '1h', createdBy: 'a' },
        /matchers.severity="loud" is not one of warning, critical/,
      ],
      [{ matchers: { zone: 'floor-a' }, createdBy: 'a' }, /give endsAt/],
      [{ matchers: { zone: 'floor-a' }, duration: '1h' }, /createdBy is required/],
      [{ matchers: { room: 'x' }, duration: '1h', createdBy: 'a' }, /unknown field\(s\) room/],
      [
        { matchers: { kind: 'weather' }, duration: '1h', createdBy: 'a' },
        /matchers.kind="weather" is not one of environment, equipment/,
      ],
    ];
    for (const [body, message] of cases) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(message);
    }
    const created = await post({
      matchers: { zone: 'floor-a', rule: 'noise_peak' },
      duration: '2h',
      createdBy: 'li.wei',
      comment: 'acoustic test',
    });
    expect(created.status).toBe(201);
    const silence = (await created.json()) as { id: number };

    await publish(hub.mqttUrl, 'p-2', { noise_peak: 141 });
    const [silenced] = await eventually(
      async () => {
        const list = (await alerts(hub, '?state=firing')).filter((a) => a.key === 'noise_peak.p-2');
        return list.length > 0 && list;
      },
      { what: 'the silenced alert to be visible' },
    );
    expect(silenced?.silencedBy).toEqual([silence.id]);
    const listed = await hub.json<{ silences: Array<{ id: number; active: boolean }> }>('/api/v1/silences');
    expect(listed.silences).toEqual([expect.objectContaining({ id: silence.id, active: true })]);
    // A weekly window (the site's time zone) is listed with its recurrence, in force only in its hours.
    const weekly = await post({
      matchers: { kind: 'equipment', zone: 'floor-a' },
      recurrence: { every: 'week', days: ['sat', 'sun'], start: '00:00', duration: '1m' },
      createdBy: 'li.wei',
      comment: 'weekend patching',
    });
    expect(weekly.status).toBe(201);
    const window = (await weekly.json()) as { id: number; recurrence: unknown; endsAt: number; startsAt: number };
    expect(window.recurrence).toMatchObject({ every: 'week', days: [6, 0], startMinute: 0, durationMs: 60_000 });
    expect(window.endsAt - window.startsAt).toBe(365 * 86_400_000);
    expect((await hub.api(`/api/v1/silences/${window.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await hub.api(`/api/v1/silences/${silence.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await hub.api(`/api/v1/silences/${silence.id}`, { method: 'DELETE' })).status).toBe(404);
    // Unsilenced, the held notification goes out.
    await eventually(() => hooks.some((h) => h.body.includes('noise_peak.p-2')), { what: 'the held notification' });
  });

  it('lists the effective rules per zone with the source of every number', async () => {
    const rules = await hub.json<{
      season: string;
      zones: Array<{
        zone: string;
        type: string;
        requirements: Array<{
          key: string;
          limits: Array<{
            severity: string;
            when: string;
            threshold: { value: number; source: string; judgement?: boolean };
          }>;
        }>;
      }>;
    }>('/api/v1/rules');
    expect(rules.season).toBe('winter');
    const floor = rules.zones.find((z) => z.zone === 'floor-a')!;
    const temperature = floor.requirements.find((r) => r.key === 'temperature')!;
    expect(temperature.limits).toContainEqual(
      expect.objectContaining({
        severity: 'critical',
        when: 'above',
        threshold: { value: 26, source: expect.stringMatching(/GB 50736/) as unknown, judgement: true },
      }),
    );
    const server = rules.zones.find((z) => z.zone === 'server-room')!;
    expect(server.requirements.map((r) => r.key)).toEqual(['temperature', 'humidity', 'dew_point', 'temperature_rise']);
  });
});

describe('alert state across a restart', () => {
  it('a firing alert is still firing after the hub restarts, and its retained message is back', async () => {
    const dataDir = tempDir();
    let hub = await startTestHub({ dataDir, config: ZONES });
    await publish(hub.mqttUrl, 'r-1', { temperature: 33 });
    await publish(hub.mqttUrl, 'r-1', { temperature: 33 });
    // Server room, critical above 30 °C after 2 minutes: pending now.
    const pending = await eventually(
      async () => (await alerts(hub, '?state=pending')).find((a) => a.key === 'temperature.r-1'),
      { what: 'the pending alert' },
    );
    await publish(hub.mqttUrl, 'p-9', { noise_peak: 150 });
    await eventually(async () => (await alerts(hub, '?state=firing')).some((a) => a.key === 'noise_peak.p-9'), {
      what: 'the alert to fire',
    });
    await hub.stop();

    hub = await startTestHub({ dataDir, config: ZONES });
    try {
      expect((await alerts(hub, '?state=pending')).map((a) => a.id)).toEqual([pending.id]);
      expect((await alerts(hub, '?state=firing')).map((a) => a.key)).toEqual(['noise_peak.p-9']);
      const watch = await watchAlerts(hub.mqttUrl);
      const message = await eventually(
        () =>
          watch.messages.find(
            (m) =>
              m.topic === 'floorwatch/alerts/floor-a/noise_peak.p-9' ||
              m.topic === 'floorwatch/alerts/unassigned/noise_peak.p-9',
          ),
        { what: 'the retained message' },
      );
      expect(message.retain).toBe(true);
      await watch.client.endAsync();
    } finally {
      await hub.dispose();
    }
  });
});

describe('alerts while InfluxDB is down', () => {
  let influxd: InfluxdHandle;
  let hub: TestHub;
  let store: InfluxStore;

  beforeAll(async () => {
    influxd = await startInfluxd();
    const url = `${influxd.url}/alerting`;
    store = new InfluxStore({ url });
    hub = await startTestHub({
      influxUrl: url,
      config: { ...ZONES, rules: { storage_down_after: '1s' }, notify: { retry_first: '100ms', retry_max: '1s' } },
    });
  });
  afterAll(async () => {
    await hub?.dispose();
    await influxd?.dispose();
  });

  it('raises exactly one storage-down alert, keeps the floor alerts firing, and writes the history once it is back', async () => {
    await publish(hub.mqttUrl, 'q-1', { noise_peak: 100 });
    await influxd.stop();
    const devices = ['q-1', 'q-2', 'q-3'];
    for (const device of devices) await publish(hub.mqttUrl, device, { noise_peak: 140 });
    const firing = await eventually(
      async () => {
        const list = await alerts(hub, '?state=firing');
        return (
          list.some((a) => a.key === 'storage_down.hub') &&
          devices.every((d) => list.some((a) => a.key === `noise_peak.${d}`)) &&
          list
        );
      },
      { what: 'storage down and the floor alerts' },
    );
    expect(firing.find((a) => a.key === 'storage_down.hub')?.severity).toBe('critical');
    for (let i = 0; i < 3; i++) {
      await publish(hub.mqttUrl, 'q-4', { co2: 600 + i });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect((await alerts(hub)).filter((a) => a.rule === 'storage_down')).toHaveLength(1);

    await influxd.start();
    await eventually(async () => (await alerts(hub, '?state=resolved')).some((a) => a.key === 'storage_down.hub'), {
      what: 'storage down to resolve',
      timeoutMs: 30_000,
    });
    const history = await eventually(
      async () => {
        const records = await store.queryAlertEvents({ from: Date.now() - 3_600_000, to: Date.now() + 60_000 });
        return records.some((r) => r.key === 'storage_down.hub' && r.event === 'resolved') && records;
      },
      { what: 'the alert history in InfluxDB', timeoutMs: 30_000 },
    );
    expect(history.filter((r) => r.key === 'storage_down.hub').map((r) => r.event)).toEqual(['firing', 'resolved']);
    expect(
      history
        .filter((r) => r.rule === 'noise_peak' && r.event === 'firing')
        .map((r) => r.subject)
        .sort(),
    ).toEqual(devices);
  });
});
