// An API token logs in to MQTT as an integration: it must not be able to take over a device's
// session (MQTT hands a new connection the session of any client with the same id, which closes
// the device and publishes its last will), nor hold so many connections that devices are turned
// away. Real broker, mqtt.js and raw sockets from chosen loopback addresses.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { eventually, capturedLog, metric, startTestHub, type TestHub } from './support/hub.ts';
import { connackRefusal, RawMqtt } from './support/mqtt.ts';

const refusals = (hub: TestHub, reason: string, token?: string): Promise<number> =>
  metric(hub, new RegExp(`floorwatch_mqtt_refused_total\\{reason="${reason}"\\} (\\d+)`), token);

describe('integrations on MQTT', () => {
  let hub: TestHub;
  const logged = capturedLog('warn');
  let password: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    hub = await startTestHub({
      log: logged.log,
      config: { devices: [{ id: 'panel-1', kind: 'sensor' }], limits: { max_connections_per_credential: 3 } },
    });
    password = await new DeviceCredentials(hub.dataDir).add('dev-a', undefined, Date.now());
    const api = new ApiTokens(hub.dataDir);
    for (const name of ['viewer', 'panel', 'dev']) tokens[name] = api.create(name, 'viewer', Date.now());
  });
  afterAll(async () => hub?.dispose());

  it("refuses a token that asks for a device's client id with CONNACK 2, and the device stays connected and online", async () => {
    const status = 'floorwatch/devices/dev-a/status';
    const device = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'dev-a',
      username: 'dev-a',
      password,
      reconnectPeriod: 0,
      will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    let closed = false;
    device.on('close', () => (closed = true));
    await device.publishAsync(status, 'online', { qos: 1, retain: true });

    expect(await connackRefusal(hub.mqttUrl, { clientId: 'dev-a', username: 'viewer', password: tokens.viewer })).toBe(
      2,
    );
    // "dev-" is the token's own prefix, but dev-a has a password: still a device's id.
    expect(await connackRefusal(hub.mqttUrl, { clientId: 'dev-a', username: 'dev', password: tokens.dev })).toBe(2);
    // panel-1 is declared in the configuration.
    expect(await connackRefusal(hub.mqttUrl, { clientId: 'panel-1', username: 'panel', password: tokens.panel })).toBe(
      2,
    );

    await device.publishAsync('floorwatch/devices/dev-a/telemetry', JSON.stringify({ seq: 1, temperature: 21 }), {
      qos: 1,
    });
    expect(closed).toBe(false);
    const seen = await eventually(async () => {
      const response = await hub.api('/api/v1/devices/dev-a', {
        headers: { authorization: `Bearer ${tokens.viewer}` },
      });
      const body = (await response.json()) as { lastSeen?: number; online?: boolean };
      return body.lastSeen !== undefined && body;
    });
    expect(seen.online).toBe(true);
    expect(logged.lines).toContain(
      'MQTT login refused for client dev-a from 127.0.0.1: an integration logged in with token viewer must use client id "viewer" or "viewer-…", not "dev-a"',
    );
    await device.endAsync();
  });

  it('lets an integration use its token\'s name, or the name and "-…", as client id, and nothing else', async () => {
    for (const clientId of ['viewer', 'viewer-wall-screen-2']) {
      const client = await mqtt.connectAsync(hub.mqttUrl, {
        clientId,
        username: 'viewer',
        password: tokens.viewer,
        reconnectPeriod: 0,
      });
      await client.endAsync();
    }
    for (const clientId of ['viewerx', 'node-red', 'wall-viewer', '', '__proto__']) {
      expect({
        clientId,
        code: await connackRefusal(hub.mqttUrl, { clientId, username: 'viewer', password: tokens.viewer, clean: true }),
      }).toEqual({ clientId, code: 2 });
    }
    expect(await refusals(hub, 'client_id_rejected', tokens.viewer)).toBe(8);
  });

  it("caps one token's open connections with CONNACK 5, counts and logs it, while devices still connect", async () => {
    const open = await Promise.all(
      [1, 2, 3].map((i) =>
        mqtt.connectAsync(hub.mqttUrl, {
          clientId: `viewer-${i}`,
          username: 'viewer',
          password: tokens.viewer,
          reconnectPeriod: 0,
        }),
      ),
    );
    expect(
      await connackRefusal(hub.mqttUrl, { clientId: 'viewer-4', username: 'viewer', password: tokens.viewer }),
    ).toBe(5);
    expect(
      await connackRefusal(hub.mqttUrl, { clientId: 'viewer-5', username: 'viewer', password: tokens.viewer }),
    ).toBe(5);
    // Reconnecting under one of its own ids replaces that connection: allowed.
    const again = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'viewer-2',
      username: 'viewer',
      password: tokens.viewer,
      reconnectPeriod: 0,
    });
    const device = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'dev-a',
      username: 'dev-a',
      password,
      reconnectPeriod: 0,
    });
    await device.endAsync();
    expect(await refusals(hub, 'credential_connections', tokens.viewer)).toBe(2);
    expect(
      logged.lines.filter((line) => line.includes('token viewer already has 3 MQTT connections open')).length,
    ).toBe(1);

    // A closed connection frees its place.
    await open[0]?.endAsync();
    await eventually(async () => {
      const client = await mqtt
        .connectAsync(hub.mqttUrl, {
          clientId: 'viewer-6',
          username: 'viewer',
          password: tokens.viewer,
          reconnectPeriod: 0,
        })
        .catch(() => undefined);
      await client?.endAsync();
      return client !== undefined;
    });
    await Promise.all([...open.slice(1), again].map((c) => c?.endAsync()));
  });
});

describe('anonymous clients under allow_anonymous', () => {
  let hub: TestHub;

  beforeAll(async () => {
    hub = await startTestHub({
      config: { security: { allow_anonymous: true }, limits: { max_connections_per_credential: 2 } },
    });
  });
  afterAll(async () => hub?.dispose());

  it("caps the connections from one address, not the others'", async () => {
    const port = hub.hub.mqttPort ?? 0;
    const from = (address: string, clientId: string) => RawMqtt.connect(port, { clientId }, address);
    const first = await Promise.all([from('127.0.0.2', 'anon-1'), from('127.0.0.2', 'anon-2')]);
    expect(first.map((c) => c.returnCode)).toEqual([0, 0]);
    const third = await from('127.0.0.2', 'anon-3');
    expect(third.returnCode).toBe(5);
    const elsewhere = await from('127.0.0.3', 'anon-4');
    expect(elsewhere.returnCode).toBe(0);
    expect(await refusals(hub, 'credential_connections')).toBe(1);
    await Promise.all([...first, third, elsewhere].map(({ client }) => client.close()));
  });

  it('refuses an anonymous client that takes the client id of a device with a password (CONNACK 2)', async () => {
    const password = await new DeviceCredentials(hub.dataDir).add('dev-p', undefined, Date.now());
    const device = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'dev-p',
      username: 'dev-p',
      password,
      reconnectPeriod: 0,
    });
    let closed = false;
    device.on('close', () => (closed = true));
    expect(await connackRefusal(hub.mqttUrl, { clientId: 'dev-p' })).toBe(2);
    await device.publishAsync('floorwatch/devices/dev-p/telemetry', JSON.stringify({ seq: 1, temperature: 20 }), {
      qos: 1,
    });
    expect(closed).toBe(false);
    await device.endAsync();
  });
});
