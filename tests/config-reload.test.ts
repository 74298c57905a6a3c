// Changing the site's configuration while the hub runs: a reload that adds a zone and a device
// judges that device's readings by the new zone's requirements without dropping a connection; a
// broken file changes nothing and says what is wrong; a raised limit resolves a firing alert on
// the next reading; a removed device's alert resolves, saying why; a new MQTT port needs a restart
// and changes nothing; SIGHUP reloads a hub started with `npm start`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { ReloadAnswer } from '../hub/config/changes.ts';
import { eventually, metric, spawnHub, startTestHub, tempDir, type HubProcess, type TestHub } from './support/hub.ts';
import { freePort } from './support/influxd.ts';

const MINUTE = 60_000;

interface AlertView {
  id: number;
  rule: string;
  severity: string;
  threshold: number;
  subject: string;
  zone: string;
  state: string;
  summary: string;
  startsAt: number;
}

const SITE = {
  zones: [{ id: 'floor-a', type: 'call_floor' }],
  devices: [{ id: 's-1', kind: 'sensor', zone: 'floor-a' }],
};

describe('reloading the configuration', () => {
  let hub: TestHub | undefined;
  const clients: MqttClient[] = [];
  let clock = Date.UTC(2026, 10, 30, 10);

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync();
    await hub?.dispose();
    hub = undefined;
  });

  /** Writes the hub's configuration file anew. */
  const rewrite = (config: Record<string, unknown>) =>
    writeFileSync(join(hub!.dataDir, 'floorwatch.yaml'), stringify(config));
  const reload = async (): Promise<{ status: number; body: ReloadAnswer }> => {
    const response = await hub!.api('/api/v1/config/reload', { method: 'POST' });
    return { status: response.status, body: (await response.json()) as ReloadAnswer };
  };
  const connect = async (id: string) => {
    const client = await mqtt.connectAsync(hub!.mqttUrl, { clientId: id, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };
  const send = (client: MqttClient, device: string, body: Record<string, unknown>) =>
    client.publishAsync(`floorwatch/devices/${device}/telemetry`, JSON.stringify({ ts: clock, ...body }), { qos: 1 });
  const alerts = async (query = '') => (await hub!.json<{ alerts: AlertView[] }>(`/api/v1/alerts${query}`)).alerts;
  const zones = async () =>
    (await hub!.json<{ zones: Array<{ zone: string }> }>('/api/v1/rules')).zones
      .map((z) => z.zone)
      .filter((z) => z !== 'unassigned');

  it('adds a zone and a device: its readings are judged by the new zone, and no connection drops', async () => {
    hub = await startTestHub({ config: SITE, now: () => clock });
    const floor = await connect('s-1');
    const rack = await connect('s-9');
    let closed = 0;
    for (const c of [floor, rack]) c.on('close', () => (closed += 1));
    // Undeclared, so in no zone: judged by the unzoned limits, critical above 26 °C.
    await send(rack, 's-9', { temperature: 28.5 });
    const before = await eventually(async () => (await alerts()).find((x) => x.subject === 's-9'));
    expect(before).toMatchObject({ subject: 's-9', zone: 'unassigned', severity: 'critical', threshold: 26 });
    // A rule the reload leaves as it is keeps its timers: CO₂ above 1500 ppm is critical after 10 minutes.
    const co2At = clock;
    await send(floor, 's-1', { co2: 1600 });
    const co2 = await eventually(async () => (await alerts()).find((x) => x.subject === 's-1'));
    expect(co2).toMatchObject({ state: 'firing', severity: 'warning' });

    rewrite({
      zones: [...SITE.zones, { id: 'srv', type: 'server_room' }],
      devices: [...SITE.devices, { id: 's-9', kind: 'sensor', zone: 'srv' }],
    });
    const { status, body } = await reload();
    expect(status).toBe(200);
    expect(body).toMatchObject({
      ok: true,
      problems: [],
      applied: ['zones added: srv', 'devices added: s-9'],
      needsRestart: [],
    });
    expect(await zones()).toEqual(['floor-a', 'srv']);

    // A rack inlet is a warning above 27 °C, critical only above 30 °C: the next reading is judged so.
    clock += MINUTE;
    await send(rack, 's-9', { temperature: 28.5 });
    const after = await eventually(async () => (await alerts()).find((x) => x.subject === 's-9' && x.zone === 'srv'));
    expect(after).toMatchObject({
      rule: 'temperature',
      subject: 's-9',
      zone: 'srv',
      severity: 'warning',
      threshold: 27,
    });
    expect(after?.summary).toMatch(/at s-9 in srv: 28.5 °C, above the warning limit 27 °C/);
    // Ten minutes after the first reading, not after the reload.
    clock = co2At + 10 * MINUTE;
    await send(floor, 's-1', { co2: 1600 });
    // The co2 alert: a tick between the clock's jump and this reading may also find s-1 silent.
    await eventually(
      async () => (await alerts()).find((x) => x.subject === 's-1' && x.rule === 'co2')?.severity === 'critical',
    );
    expect((await alerts()).find((x) => x.subject === 's-1')).toMatchObject({ id: co2.id, startsAt: co2.startsAt });
    expect(closed).toBe(0);
    expect(floor.connected && rack.connected).toBe(true);

    // Who reloaded and what changed, in the audit log, health and the metrics.
    const audit = await hub.json<{ entries: Array<{ who: string; details: { applied: string[] } }> }>(
      '/api/v1/audit?action=config.reload',
    );
    expect(audit.entries[0]).toMatchObject({ who: 'anonymous', details: { applied: body.applied } });
    const health = await hub.json<{ checks: { configuration: { configHash: string; configLoadedAt: number } } }>(
      '/api/v1/health',
    );
    expect(health.checks.configuration).toMatchObject({ configHash: body.hash, configLoadedAt: body.loadedAt });
    expect(await metric(hub, /^floorwatch_config_reloads_total (\d+)/m)).toBe(1);
    // Retained for whoever subscribes later.
    const watcher = await connect('watcher');
    const announced = new Promise<Record<string, unknown>>((resolve) =>
      watcher.on('message', (topic, payload) => {
        if (topic === 'floorwatch/hub/config') resolve(JSON.parse(payload.toString()) as Record<string, unknown>);
      }),
    );
    await watcher.subscribeAsync('floorwatch/hub/config', { qos: 1 });
    expect(await announced).toEqual({
      hash: body.hash,
      loadedAt: body.loadedAt,
      by: 'anonymous',
      applied: body.applied,
      needsRestart: [],
    });
  });

  it('keeps running on the configuration it has when the file is broken, and answers with the problem', async () => {
    hub = await startTestHub({ config: SITE, now: () => clock });
    const before = (await hub.json<{ checks: { configuration: { configHash: string } } }>('/api/v1/health')).checks
      .configuration.configHash;
    writeFileSync(
      join(hub.dataDir, 'floorwatch.yaml'),
      'zones:\n  - id: floor-a\n    type: call_floor\n  - id: open\n    type: open_plan\n',
    );
    const { status, body } = await reload();
    expect(status).toBe(422);
    expect(body.ok).toBe(false);
    expect(body.problems).toEqual([
      expect.stringMatching(/^zones\.1\.type \(found "open_plan"\): must be one of .*line 5\]$/),
    ]);
    expect(body.hash).toBe(before);
    expect(await zones()).toEqual(['floor-a']);
    const health = await hub.json<{ status: string; checks: { configuration: { detail: string } } }>('/api/v1/health');
    expect(health.status).toBe('degraded');
    expect(health.checks.configuration.detail).toMatch(/the last reload .* was refused: zones\.1\.type/);
    expect(await metric(hub, /^floorwatch_config_reload_failures_total (\d+)/m)).toBe(1);
    // The declared device is still judged as before.
    const sensor = await connect('s-1');
    await send(sensor, 's-1', { co2: 1600 });
    await eventually(async () => (await alerts()).some((a) => a.rule === 'co2' && a.subject === 's-1'));
  });

  it('resolves a firing alert on the next reading once a reload raises its limit, and the alert of a device it removes', async () => {
    const site = {
      zones: [{ id: 'srv', type: 'server_room' }],
      devices: [
        { id: 'rack-1', kind: 'sensor', zone: 'srv' },
        { id: 'rack-2', kind: 'sensor', zone: 'srv' },
      ],
    };
    hub = await startTestHub({ config: site, now: () => clock });
    const rack1 = await connect('rack-1');
    const rack2 = await connect('rack-2');
    // 31 °C at the rack inlet: critical after 2 minutes.
    for (const step of [0, 3]) {
      clock += step * MINUTE;
      await send(rack1, 'rack-1', { temperature: 31 });
      await send(rack2, 'rack-2', { temperature: 31 });
    }
    await eventually(async () => (await alerts('?state=firing')).length === 2);

    rewrite({
      zones: [
        { id: 'srv', type: 'server_room', rules: { temperature: { warning: { above: 33 }, critical: { above: 35 } } } },
      ],
      devices: [site.devices[0]],
    });
    const { body } = await reload();
    expect(body.applied).toEqual(['zones changed: srv', 'devices removed: rack-2']);
    // The removed device's alert resolves at the reload, saying why.
    const removed = (await alerts('?state=resolved')).find((a) => a.subject === 'rack-2');
    expect(removed?.summary).toMatch(/rack-2 removed from the configuration$/);
    // rack-1's stays firing until its next reading is judged by the new limits.
    expect((await alerts('?state=firing')).map((a) => a.subject)).toEqual(['rack-1']);
    clock += MINUTE;
    await send(rack1, 'rack-1', { temperature: 31 });
    await eventually(async () => (await alerts('?state=firing')).length === 0);
    expect((await alerts('?state=resolved')).map((a) => a.subject).sort()).toEqual(['rack-1', 'rack-2']);
  });

  it('says a new MQTT port needs a restart and changes nothing', async () => {
    hub = await startTestHub({ config: SITE, now: () => clock });
    const sensor = await connect('s-1');
    const port = await freePort();
    // The port now comes from the file, not the variable the hub started with.
    delete hub.env.FLOORWATCH_MQTT_PORT;
    rewrite({ ...SITE, mqtt: { port } });
    const { status, body } = await reload();
    expect(status).toBe(200);
    expect(body.applied).toEqual([]);
    expect(body.needsRestart).toEqual([`mqtt.port: 0 → ${port}`]);
    expect(sensor.connected).toBe(true);
    await send(sensor, 's-1', { temperature: 21 });
    const refused = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'elsewhere', reconnectPeriod: 0, connectTimeout: 2000 })
      .then(
        (c) => c.endAsync().then(() => 'connected'),
        (err: unknown) => String(err),
      );
    expect(refused).toMatch(/ECONNREFUSED/);
  });
});

describe('SIGHUP', () => {
  let child: HubProcess | undefined;
  const dataDir = tempDir();

  afterEach(async () => {
    if (child && child.child.exitCode === null) {
      child.child.kill('SIGTERM');
      await child.exited;
    }
  });

  it('reloads the configuration of a hub started from the command line', async () => {
    child = await spawnHub(dataDir, { config: SITE });
    const file = join(dataDir, 'floorwatch.yaml');
    const rules = async () =>
      ((await (await fetch(`${child!.url}/api/v1/rules`)).json()) as { zones: Array<{ zone: string }> }).zones
        .map((z) => z.zone)
        .filter((z) => z !== 'unassigned');
    expect(await rules()).toEqual(['floor-a']);
    // A hub started from the command line also exports its process's metrics, under the hub's prefix once.
    const metrics = await (await fetch(`${child.url}/metrics`)).text();
    expect(metrics).toMatch(/^floorwatch_process_cpu_user_seconds_total /m);
    expect(metrics).not.toMatch(/floorwatch_process_process_/);
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('zones:\n', 'zones:\n  - id: quiet-1\n    type: quiet_room\n'),
    );
    child.child.kill('SIGHUP');
    await eventually(async () => (await rules()).includes('quiet-1'), { what: 'the new zone after SIGHUP' });
    expect(child.child.exitCode).toBeNull();
  });
});
