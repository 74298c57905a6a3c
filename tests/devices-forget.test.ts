// Forgetting a device no one declared that is gone from the floor (`floorwatch devices forget`,
// POST /api/v1/devices/{id}/forget): its offline alert resolves saying who forgot it, it leaves the
// device list and frees its place under limits.max_devices, across a restart too; a declared
// device, one still online (unless forced), an unknown or hostile id and a request without `by`
// are refused and change nothing; a forgotten device that reports again is taken on as new.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';

const run = promisify(execFile);

interface AlertView {
  id: number;
  key: string;
  state: string;
  summary: string;
}

const site = {
  zones: [{ id: 'floor-a', type: 'call_floor' }],
  devices: [{ id: 't-1', kind: 'sensor', zone: 'floor-a' }],
  // t-1 and one device more.
  limits: { max_devices: 2 },
  rules: { startup_grace: '0s' },
};

describe('forgetting a device', () => {
  const dataDir = tempDir();
  let hub: TestHub | undefined;
  const clients: MqttClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await hub?.dispose();
    hub = undefined;
  });

  const device = async (id: string) => {
    const client = await mqtt.connectAsync(hub!.mqttUrl, { clientId: id, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };
  const forget = async (id: string, body: unknown) => {
    const response = await hub!.api(`/api/v1/devices/${encodeURIComponent(id)}/forget`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { message: string } };
  };
  const offlineAlert = async (state: 'firing' | 'resolved') =>
    (await hub!.json<{ alerts: AlertView[] }>(`/api/v1/alerts?state=${state}`)).alerts.find(
      (a) => a.key === 'offline.phone-7',
    );
  const known = async () =>
    (await hub!.json<{ checks: { devices: { known: number } } }>('/api/v1/health')).checks.devices.known;

  it('resolves its alerts, frees its place and keeps it forgotten across a restart; it comes back as new', async () => {
    hub = await startTestHub({ dataDir, config: site });
    const phone = await device('phone-7');
    await phone.publishAsync('floorwatch/devices/phone-7/status', 'offline', { qos: 1, retain: true });
    const firing = await eventually(() => offlineAlert('firing'), { what: 'the offline alert of phone-7' });
    expect(await known()).toBe(2);
    // The place is taken: a further device is refused.
    const newcomer = await device('phone-8');
    await newcomer.publishAsync('floorwatch/devices/phone-8/telemetry', JSON.stringify({ noise_db: 50 }), { qos: 1 });
    expect((await hub.api('/api/v1/devices/phone-8')).status).toBe(404);

    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'hub/cli/main.ts', 'devices', 'forget', 'phone-7', '--by', 'li.wei', '--url', hub.hub.url],
      { env: { ...process.env, FLOORWATCH_CONFIG: join(dataDir, 'absent.yaml') } },
    );
    expect(stdout).toContain('phone-7 is forgotten: its alerts resolve');
    expect(stdout).not.toContain('MQTT password');
    const resolved = await eventually(() => offlineAlert('resolved'), { what: 'the offline alert resolved' });
    expect(resolved.id).toBe(firing.id);
    expect(resolved.summary).toMatch(/resolved, phone-7 forgotten by li\.wei$/);
    expect((await hub.api('/api/v1/devices/phone-7')).status).toBe(404);
    await eventually(async () => (await known()) === 1, { what: 'phone-7 no longer counted' });
    const audit = await hub.json<{ entries: Array<{ details: Record<string, unknown> }> }>(
      '/api/v1/audit?action=device.forget',
    );
    expect(audit.entries[0]?.details).toEqual({ device: 'phone-7', by: 'li.wei' });

    // Its place is free for the newcomer.
    await newcomer.publishAsync('floorwatch/devices/phone-8/telemetry', JSON.stringify({ noise_db: 51 }), { qos: 1 });
    await eventually(async () => (await hub!.api('/api/v1/devices/phone-8')).status === 200, {
      what: 'phone-8 taken on',
    });

    // A restart replays the journal: phone-7 stays forgotten, its alert resolved.
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await hub.stop();
    hub = await startTestHub({ dataDir, config: site });
    expect((await hub.api('/api/v1/devices/phone-7')).status).toBe(404);
    expect(await offlineAlert('resolved')).toMatchObject({ id: firing.id });
    expect(await offlineAlert('firing')).toBeUndefined();
    expect(await known()).toBe(2);
  });

  it('refuses a declared or online device, an unknown or hostile id, a request without by; nothing changes', async () => {
    hub = await startTestHub({ dataDir: tempDir(), config: { ...site, limits: { max_devices: 10 } } });
    const phone = await device('phone-7');
    await phone.publishAsync('floorwatch/devices/phone-7/telemetry', JSON.stringify({ noise_db: 50 }), { qos: 1 });
    await eventually(async () => (await hub!.api('/api/v1/devices/phone-7')).status === 200);
    const before = await hub.json('/api/v1/devices');

    const declared = await forget('t-1', { by: 'li.wei' });
    expect(declared.status).toBe(409);
    expect(declared.body.message).toContain('device "t-1" is declared in the configuration');
    expect((await forget('__proto__', { by: 'li.wei' })).status).toBe(400);
    for (const id of ['constructor', 'toString', 'phone-9'])
      expect(await forget(id, { by: 'li.wei' }), id).toMatchObject({
        status: 404,
        body: { message: `no device "${id}" has reported` },
      });
    const nobody = await forget('phone-7', {});
    expect(nobody.status).toBe(400);
    expect(nobody.body.message).toContain('by is required');
    expect(await forget('phone-7', { by: 'li.wei', constructor: 1 })).toMatchObject({ status: 400 });
    expect(await hub.json('/api/v1/devices')).toEqual(before);
    expect((await hub.json<{ entries: unknown[] }>('/api/v1/audit?action=device.forget')).entries).toEqual([]);

    // Still online: refused, unless the operator insists it is gone.
    const online = await forget('phone-7', { by: 'li.wei' });
    expect(online.status).toBe(409);
    expect(online.body.message).toContain('device "phone-7" is online');
    expect(await hub.json('/api/v1/devices')).toEqual(before);
    // Forgotten, then heard again: a new device, listed again.
    expect((await forget('phone-7', { by: 'constructor', force: true })).status).toBe(200);
    await eventually(async () => (await hub!.api('/api/v1/devices/phone-7')).status === 404);
    await phone.publishAsync('floorwatch/devices/phone-7/telemetry', JSON.stringify({ noise_db: 52 }), { qos: 1 });
    const back = await eventually(async () => {
      const response = await hub!.api('/api/v1/devices/phone-7');
      return response.status === 200 ? ((await response.json()) as { metrics: string[] }) : undefined;
    });
    expect(back.metrics).toEqual(['noise_db']);
  });

  it('says that a forgotten device’s MQTT password still lets it connect, and how to revoke it', async () => {
    const dir = tempDir();
    const password = await new DeviceCredentials(dir).add('phone-5', undefined, Date.now());
    hub = await startTestHub({ dataDir: dir, config: { ...site, limits: { max_devices: 10 } } });
    const phone = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'phone-5',
      username: 'phone-5',
      password,
      reconnectPeriod: 0,
    });
    clients.push(phone);
    await phone.publishAsync('floorwatch/devices/phone-5/status', 'offline', { qos: 1, retain: true });
    await eventually(async () => (await hub!.api('/api/v1/devices/phone-5')).status === 200);
    const answer = await forget('phone-5', { by: 'li.wei' });
    expect(answer.status).toBe(200);
    expect(answer.body.message).toContain(
      'Its MQTT password still lets it connect: "floorwatch devices revoke phone-5" if it must not.',
    );
  });
});
