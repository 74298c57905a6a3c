// What else a reload takes on while the hub runs: who hears of alerts (a receiver added hears of
// the next alert, one removed hears of none and what waited for it is dropped); the limits,
// ingest's checks and the topic rules, on connections that stay open; the zones Home Assistant is
// told of, and the dashboards generated from the same file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { generate } from '../dashboards/generate.ts';
import type { ReloadAnswer } from '../hub/config/changes.ts';
import { loadConfig } from '../hub/config/config.ts';
import { capturedLog, eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startPostReceiver, type PostReceiver } from './support/receiver.ts';

const SITE = {
  zones: [{ id: 'floor-a', type: 'call_floor' }],
  devices: [{ id: 's-1', kind: 'sensor', zone: 'floor-a' }],
};
const SECRET = 'a-secret-of-sixteen-chars';

describe('a reload takes on', () => {
  let hub: TestHub | undefined;
  const clients: MqttClient[] = [];
  const receivers: PostReceiver[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
    await hub?.dispose();
    hub = undefined;
    for (const r of receivers.splice(0)) await r.close();
  });

  const reload = async (config: Record<string, unknown>): Promise<ReloadAnswer> => {
    writeFileSync(join(hub!.dataDir, 'floorwatch.yaml'), stringify(config));
    const response = await hub!.api('/api/v1/config/reload', { method: 'POST' });
    const answer = (await response.json()) as ReloadAnswer;
    expect({ status: response.status, problems: answer.problems }).toEqual({ status: 200, problems: [] });
    return answer;
  };
  const connect = async (id: string) => {
    const client = await mqtt.connectAsync(hub!.mqttUrl, { clientId: id, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };
  const send = (client: MqttClient, device: string, body: Record<string, unknown>) =>
    client.publishAsync(`floorwatch/devices/${device}/telemetry`, JSON.stringify(body), { qos: 1 });

  it('receivers: one added hears of the next alert, one removed hears no more and what waited for it is dropped', async () => {
    const away = await startPostReceiver(() => 503);
    const desk = await startPostReceiver();
    receivers.push(away, desk);
    const notify = (name: string, url: string) => ({
      group_wait: '0s',
      retry_first: '20ms',
      retry_max: '50ms',
      receivers: [{ name, webhook: { url, secret: SECRET } }],
    });
    const captured = capturedLog();
    hub = await startTestHub({ config: { ...SITE, notify: notify('night', `${away.url}/night`) }, log: captured.log });
    const sensor = await connect('s-1');
    await send(sensor, 's-1', { co2: 1600 });
    // The night receiver refuses: the notice waits in the outbox, retried.
    await eventually(() => away.posts.length >= 2, { what: 'retries to the receiver that refuses' });

    const answer = await reload({ ...SITE, notify: notify('desk', `${desk.url}/desk`) });
    expect(answer.applied).toEqual([expect.stringMatching(/^notify\.receivers: \[.*\]/)]);
    expect(answer.needsRestart).toEqual([]);
    expect(captured.lines).toContain(
      'dropping 1 undelivered notifications for receiver night, which is no longer configured',
    );

    const rack = await connect('s-9');
    await send(rack, 's-9', { co2: 1600 });
    const subject = (p: { body: Record<string, unknown> }) => (p.body.alert as { subject: string }).subject;
    const told = await eventually(() => desk.posts.find((p) => subject(p) === 's-9'));
    expect(told?.path).toBe('/desk');
    // Only the alert raised after the reload: the one that waited for the night receiver is not the desk's.
    expect(desk.posts.map(subject)).toEqual(['s-9']);
    expect(away.posts.some((p) => JSON.stringify(p.body).includes('s-9'))).toBe(false);
  });

  it('limits, ingest checks and topic rules, without dropping a connection', async () => {
    hub = await startTestHub({ config: SITE });
    const sensor = await connect('s-1');
    const watcher = await connect('watcher');
    let closed = 0;
    for (const c of [sensor, watcher]) c.on('close', () => (closed += 1));
    // Before: an undeclared device's reading is taken in, the hub's status may be subscribed to.
    await send(sensor, 's-7', { temperature: 21 });
    expect((await watcher.subscribeAsync('floorwatch/hub/status', { qos: 1 }))[0]?.qos).toBe(1);

    const answer = await reload({
      ...SITE,
      ingest: { accept_undeclared_devices: false },
      limits: { max_connections: 2 },
      security: { topic_rules: [{ topic: 'floorwatch/hub/#', subscribe: 'deny' }] },
    });
    expect(answer.applied).toEqual([
      'ingest.accept_undeclared_devices: true → false',
      'security.topic_rules: [] → [{"topic":"floorwatch/hub/#","subscribe":"deny"}]',
      'limits.max_connections: 5000 → 2',
    ]);
    expect(answer.needsRestart).toEqual([]);

    // A third connection is one more than the limit allows now.
    const third = await mqtt
      .connectAsync(hub.mqttUrl, { clientId: 'third', reconnectPeriod: 0, connectTimeout: 5000 })
      .then(
        (c) => c.endAsync().then(() => 'connected'),
        (err: unknown) => String(err),
      );
    expect(third).toMatch(/Server unavailable/);
    // A subscription the new rule denies is refused on a connection made before it.
    const denied = await watcher.subscribeAsync('floorwatch/hub/config', { qos: 1 }).then(
      (granted) => `granted QoS ${granted[0]?.qos}`,
      (err: unknown) => String(err),
    );
    expect(denied).toMatch(/Subscribe error/);
    // An undeclared device's reading is refused now, a declared one's is not.
    await send(sensor, 's-7', { temperature: 22 });
    await send(sensor, 's-1', { temperature: 22 });
    const refused = await eventually(async () => {
      const { rejections } = await hub!.json<{ rejections: Array<{ device?: string; reason: string }> }>(
        '/api/v1/rejections',
      );
      return rejections.find((r) => r.reason === 'undeclared_device');
    });
    expect(refused).toMatchObject({ device: 's-7' });
    const devices = await hub.json<{ devices: Array<{ id: string; lastSeen?: number }> }>('/api/v1/devices');
    expect(devices.devices.map((d) => d.id).sort()).toEqual(['s-1', 's-7']);
    expect(closed).toBe(0);
    expect(sensor.connected && watcher.connected).toBe(true);
  });

  it('a publish rule, on a connection that already published to the topic it denies', async () => {
    hub = await startTestHub({ config: SITE });
    const panel = await connect('panel');
    // Allowed once, and so remembered for this connection until the rules change.
    await panel.publishAsync('site/lobby/display', 'welcome', { qos: 1 });
    const answer = await reload({ ...SITE, security: { topic_rules: [{ topic: 'site/#', publish: 'deny' }] } });
    expect(answer.applied).toEqual(['security.topic_rules: [] → [{"topic":"site/#","publish":"deny"}]']);
    const closed = new Promise<void>((resolve) => panel.once('close', () => resolve()));
    panel.publish('site/lobby/display', 'welcome again', { qos: 1 });
    await closed;
    expect(panel.connected).toBe(false);
  });

  it('zones for Home Assistant: a zone added is announced, one removed is cleared', async () => {
    hub = await startTestHub({ config: { ...SITE, mqtt: { home_assistant_discovery: true } } });
    const watcher = await connect('watcher');
    const seen = new Map<string, string>();
    watcher.on('message', (topic, payload) => seen.set(topic, payload.toString()));
    await watcher.subscribeAsync('homeassistant/+/+/config', { qos: 1 });
    const floorA = 'homeassistant/binary_sensor/floorwatch_floorwatch_floor-a_alerts/config';
    const quiet = 'homeassistant/binary_sensor/floorwatch_floorwatch_quiet-1_alerts/config';
    await eventually(() => (seen.get(floorA) ?? '') !== '', { what: "floor-a's announcement" });

    const answer = await reload({ zones: [{ id: 'quiet-1', type: 'quiet_room' }], devices: [] });
    expect(answer.applied).toEqual(['zones added: quiet-1', 'zones removed: floor-a', 'devices removed: s-1']);
    await eventually(() => seen.get(floorA) === '' && (seen.get(quiet) ?? '') !== '', {
      what: "floor-a's announcement cleared and quiet-1's made",
    });
    expect(JSON.parse(seen.get(quiet)!)).toMatchObject({ state_topic: 'floorwatch/zones/quiet-1/alerts' });
    // Every sensor of floor-a is cleared too, none left announced.
    const left = [...seen].filter(([topic, payload]) => topic.includes('floor-a') && payload !== '');
    expect(left).toEqual([]);
    // The dashboards generated from the same file show the zones the hub now judges.
    const judged = (await hub.json<{ zones: Array<{ zone: string }> }>('/api/v1/rules')).zones.map((z) => z.zone);
    const shown = generate(loadConfig({ env: hub.env }))
      .filter((f) => f.path.endsWith('.json'))
      .map((f) => f.content)
      .join('\n');
    expect(judged).toContain('quiet-1');
    expect(shown).toContain('quiet-1');
    expect(judged).not.toContain('floor-a');
    expect(shown).not.toContain('floor-a');
  });

  it('zones for Home Assistant: a reload announces what it changed, not every zone again', async () => {
    const config = { ...SITE, mqtt: { home_assistant_discovery: true } };
    hub = await startTestHub({ config });
    const watcher = await connect('watcher');
    // Announcements published while subscribed; the retained ones a subscription is handed come flagged.
    const live: string[] = [];
    watcher.on('message', (topic, _payload, packet) => {
      if (!packet.retain) live.push(topic);
    });
    await watcher.subscribeAsync('homeassistant/+/+/config', { qos: 1 });
    const quiet = 'homeassistant/binary_sensor/floorwatch_floorwatch_quiet-1_alerts/config';
    await reload({ ...config, zones: [...SITE.zones, { id: 'quiet-1', type: 'quiet_room' }] });
    await eventually(() => live.includes(quiet), { what: "quiet-1's announcement" });
    expect(live.filter((topic) => !topic.includes('quiet-1'))).toEqual([]);
  });

  it('silences kept in the file: started, kept with their id while unchanged, not ended through the API, ended when the file drops them', async () => {
    hub = await startTestHub({ config: SITE });
    const sensor = await connect('s-1');
    await send(sensor, 's-1', { co2: 1600 });
    const co2 = await eventually(async () =>
      (
        await hub!.json<{ alerts: Array<{ id: number; rule: string; silencedBy: number[] }> }>('/api/v1/alerts')
      ).alerts.find((a) => a.rule === 'co2'),
    );
    expect(co2.silencedBy).toEqual([]);
    const service = {
      name: 'ventilation-service',
      matchers: { zone: 'floor-a', rule: 'co2' },
      until: new Date(Date.now() + 2 * 3_600_000).toISOString(),
      comment: 'air handling unit serviced',
    };
    const silences = async () =>
      (await hub!.json<{ silences: Array<{ id: number; createdBy: string; active: boolean }> }>('/api/v1/silences'))
        .silences;
    const alertOf = async () =>
      (await hub!.json<{ alerts: Array<{ id: number; silencedBy: number[] }> }>('/api/v1/alerts')).alerts.find(
        (a) => a.id === co2.id,
      );

    const first = await reload({ ...SITE, silences: [service] });
    expect(first.applied).toEqual([expect.stringMatching(/^silences: \[\] → \[\{"name":"ventilation-service"/)]);
    const [held] = await silences();
    expect(held).toMatchObject({ createdBy: 'configuration (ventilation-service)', active: true });
    expect((await alertOf())?.silencedBy).toEqual([held!.id]);
    // The file owns it: the API may not end it.
    const refused = await hub.api(`/api/v1/silences/${held!.id}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { message: string }).message).toMatch(/kept by the configuration file/);

    // A second silence added, the first unchanged: it keeps its id.
    const weekly = {
      name: 'fire-alarm-test',
      matchers: { kind: 'environment' },
      recurrence: { every: 'week', days: ['tue'], start: '02:00', duration: '1h' },
    };
    await reload({ ...SITE, silences: [service, weekly] });
    expect((await silences()).map((s) => s.createdBy)).toEqual([
      'configuration (ventilation-service)',
      'configuration (fire-alarm-test)',
    ]);
    expect((await silences())[0]?.id).toBe(held!.id);

    await reload({ ...SITE, silences: [weekly] });
    expect((await silences()).map((s) => s.createdBy)).toEqual(['configuration (fire-alarm-test)']);
    expect((await alertOf())?.silencedBy).toEqual([]);
  });

  it('shift times: the handover report of the current shift starts where the file now says', async () => {
    const clock = Date.UTC(2026, 10, 30, 10, 30);
    hub = await startTestHub({ config: { ...SITE, rules: { shifts: ['06:00', '14:00', '22:00'] } }, now: () => clock });
    const reportFrom = async () => (await hub!.json<{ from: number }>('/api/v1/reports/shift?format=json')).from;
    expect(await reportFrom()).toBe(Date.UTC(2026, 10, 30, 6));
    const answer = await reload({ ...SITE, rules: { shifts: ['09:00', '21:00'] } });
    expect(answer.applied).toEqual(['rules.shifts: ["06:00","14:00","22:00"] → ["09:00","21:00"]']);
    expect(await reportFrom()).toBe(Date.UTC(2026, 10, 30, 9));
  });

  it('the floor plan: drawn, its image read again, and taken away', async () => {
    hub = await startTestHub({ config: SITE });
    const layout = async () =>
      (await hub!.json<{ layout: { zones: Array<{ zone: string }> } | null }>('/api/v1/layout')).layout;
    expect(await layout()).toBeNull();
    const image = join(hub.dataDir, 'plan.svg');
    writeFileSync(image, '<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>');
    const plan = { width: 20, height: 10, background: image, zones: { 'floor-a': { rect: [0, 0, 20, 10] } } };
    expect((await reload({ ...SITE, layout: plan })).applied).toEqual([expect.stringMatching(/^layout: unset → /)]);
    expect((await layout())?.zones.map((z) => z.zone)).toEqual(['floor-a']);
    expect(await (await hub.api('/api/v1/layout/background')).text()).toContain('<rect');
    // A new image under the same name is read at the next reload, not served from the first read.
    writeFileSync(image, '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>');
    await reload({ ...SITE, layout: { ...plan, width: 21 } });
    expect(await (await hub.api('/api/v1/layout/background')).text()).toContain('<circle');
    await reload(SITE);
    expect(await layout()).toBeNull();
    expect((await hub.api('/api/v1/layout/background')).status).toBe(404);
  });
});
