// The broker with device credentials: logins, the topic ACL, integration tokens, and the limits
// that keep one client from taking the hub down. Real broker, mqtt.js and mosquitto's clients.
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { connackRefusal, PACKET, publishPacket, RawMqtt } from './support/mqtt.ts';

const run = promisify(execFile);

/** The CONNACK return code of a refused connection (mqtt.js puts it on the error). */

/** Bearer header for hubs that have API tokens. */
const bearer = (token: string | undefined): RequestInit =>
  token ? { headers: { authorization: `Bearer ${token}` } } : {};

async function stored(hub: TestHub, device: string, metricName: string, token?: string): Promise<number[]> {
  const response = await hub.api(
    `/api/v1/readings?device=${device}&metric=${metricName}&from=-1d&limit=100000`,
    bearer(token),
  );
  expect(response.status).toBe(200);
  const body = (await response.json()) as { points: Array<{ value: number }> };
  return body.points.map((p) => p.value);
}

/** A QoS 0 publish the broker must answer by closing the connection. */
async function closedBy(client: MqttClient, topic: string, payload: string): Promise<void> {
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish(topic, payload, { qos: 0 });
  await closed;
}

/** A QoS 1 publish, or 'closed' when the broker ends the connection instead of acknowledging. */
async function publishOrClose(client: MqttClient, topic: string, payload: string): Promise<'acked' | 'closed'> {
  let onClose: (() => void) | undefined;
  const closed = new Promise<'closed'>((resolve) => client.once('close', (onClose = () => resolve('closed'))));
  try {
    return await Promise.race([client.publishAsync(topic, payload, { qos: 1 }).then(() => 'acked' as const), closed]);
  } finally {
    // Called in a loop: leave no listener behind.
    if (onClose) client.off('close', onClose);
  }
}

describe('broker with device credentials', () => {
  let hub: TestHub;
  const secrets: Record<string, string> = {};
  /** The integration's token: a viewer, so it also reads the API. */
  let token: string;

  beforeAll(async () => {
    hub = await startTestHub();
    // Added while the hub runs, as the command line would: the hub picks the change up.
    const credentials = new DeviceCredentials(hub.dataDir);
    for (const id of ['t-a', 't-b']) secrets[id] = await credentials.add(id, 'floor-a', Date.now());
    token = new ApiTokens(hub.dataDir).create('bridge', 'viewer', Date.now());
  });
  afterAll(async () => hub?.dispose());

  it('refuses a wrong password with CONNACK 4 (mosquitto_pub) and stores nothing', async () => {
    const attempt = run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hub.hub.mqttPort),
      '-q',
      '1',
      '-i',
      't-a',
      '-u',
      't-a',
      '-P',
      'not-the-password',
      '-t',
      'floorwatch/devices/t-a/telemetry',
      '-m',
      '{"temperature":30}',
    ]);
    await expect(attempt).rejects.toMatchObject({
      stderr: expect.stringMatching(/bad user name or password/i) as unknown,
    });
    expect(await connackRefusal(hub.mqttUrl, { clientId: 't-a', username: 't-a', password: 'wrong' })).toBe(4);
    expect(await connackRefusal(hub.mqttUrl, { clientId: 'ghost', username: 'ghost', password: secrets['t-a'] })).toBe(
      4,
    );
    expect(await stored(hub, 't-a', 'temperature', token)).toEqual([]);
    expect(await metric(hub, /floorwatch_mqtt_refused_total\{reason="bad_credentials"\} (\d+)/, token)).toBe(3);
  });

  it('refuses anonymous clients once devices have passwords, and a client id that is not the device id', async () => {
    expect(await connackRefusal(hub.mqttUrl, { clientId: 'anon-1' })).toBe(5);
    expect(
      await connackRefusal(hub.mqttUrl, { clientId: 'someone-else', username: 't-a', password: secrets['t-a'] }),
    ).toBe(2);
  });

  it("refuses device A publishing on B's topic and counts it, while A's own data keeps flowing", async () => {
    const a = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 't-a',
      username: 't-a',
      password: secrets['t-a'],
      reconnectPeriod: 50,
    });
    await a.publishAsync('floorwatch/devices/t-a/telemetry', JSON.stringify({ seq: 1, temperature: 21 }), { qos: 1 });
    // QoS 0: a refused QoS 1 message stays in mqtt.js's queue and is re-sent at every reconnect.
    await closedBy(a, 'floorwatch/devices/t-b/telemetry', JSON.stringify({ temperature: 99 }));
    // mqtt.js reconnects; A goes on sending its own readings.
    await a.publishAsync('floorwatch/devices/t-a/telemetry', JSON.stringify({ seq: 2, temperature: 22 }), { qos: 1 });
    await a.endAsync();
    expect(
      await eventually(
        async () =>
          (await stored(hub, 't-a', 'temperature', token)).length === 2 && stored(hub, 't-a', 'temperature', token),
      ),
    ).toEqual([21, 22]);
    expect(await stored(hub, 't-b', 'temperature', token)).toEqual([]);
    expect(await metric(hub, /floorwatch_mqtt_refused_total\{reason="publish_denied"\} (\d+)/, token)).toBe(1);
  });

  it('lets a device subscribe only to its own command topic', async () => {
    const b = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-b', username: 't-b', password: secrets['t-b'] });
    const granted = await b.subscribeAsync('floorwatch/devices/t-b/command');
    expect(granted[0]?.qos).toBe(0);
    await expect(b.subscribeAsync('floorwatch/devices/t-a/telemetry')).rejects.toThrow();
    await expect(b.subscribeAsync('floorwatch/#')).rejects.toThrow();
    expect(b.connected).toBe(true);
    await b.endAsync();
  });

  it('lets an integration with a token read floorwatch/# but never publish readings, and keeps $SYS read-only', async () => {
    const bridge = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'bridge-1',
      username: 'bridge',
      password: token,
      reconnectPeriod: 0,
    });
    await bridge.subscribeAsync('floorwatch/#', { qos: 1 });
    const seen = new Promise<string>((resolve) =>
      bridge.on('message', (topic, payload) => topic.endsWith('t-a/telemetry') && resolve(payload.toString())),
    );
    const a = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-a', username: 't-a', password: secrets['t-a'] });
    await a.publishAsync('floorwatch/devices/t-a/telemetry', JSON.stringify({ seq: 3, humidity: 40 }), { qos: 1 });
    expect(JSON.parse(await seen)).toEqual({ seq: 3, humidity: 40 });
    await expect(bridge.subscribeAsync('other/#')).rejects.toThrow();
    await closedBy(bridge, 'floorwatch/devices/t-a/telemetry', JSON.stringify({ humidity: 99 }));
    a.options.reconnectPeriod = 0;
    await closedBy(a, '$SYS/broker/uptime', '0');
    expect(await stored(hub, 't-a', 'humidity', token)).toEqual([40]);
    expect(await connackRefusal(hub.mqttUrl, { clientId: 'bridge-2', username: 'someone', password: token })).toBe(4);
  });

  it('stops accepting a device the moment it is revoked', async () => {
    new DeviceCredentials(hub.dataDir).revoke('t-b', Date.now());
    expect(await connackRefusal(hub.mqttUrl, { clientId: 't-b', username: 't-b', password: secrets['t-b'] })).toBe(4);
  });
});

describe('broker limits', () => {
  let hub: TestHub;
  let clock = Date.UTC(2025, 5, 1, 12);

  beforeAll(async () => {
    hub = await startTestHub({
      now: () => clock,
      config: {
        limits: {
          max_connections: 3,
          // One address opens the sockets of the test below: the bound per address is not what it tests.
          max_connecting_per_address: 1000,
          max_packet_bytes: 2048,
          messages_per_second: 1,
          message_burst: 3,
          rate_grace: '2s',
          max_keepalive: '2m',
          max_inflight: 2,
        },
      },
    });
  });
  afterAll(async () => hub?.dispose());

  it("drops and counts messages over a client's rate, and disconnects a client that keeps it up", async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'fast-1', reconnectPeriod: 0 });
    let sent = 0;
    let outcome: 'acked' | 'closed' = 'acked';
    // Two messages every half second against a limit of one a second, after a burst of three.
    for (let step = 0; step < 20 && outcome === 'acked'; step++) {
      clock += 500;
      for (let i = 0; i < 2 && outcome === 'acked'; i++) {
        outcome = await publishOrClose(
          client,
          'floorwatch/devices/fast-1/telemetry',
          JSON.stringify({ seq: sent, ts: clock - 1000 + sent++, noise: 50 }),
        );
      }
    }
    expect(outcome).toBe('closed');
    const dropped = await metric(hub, /floorwatch_mqtt_dropped_total (\d+)/);
    expect(dropped).toBeGreaterThan(0);
    expect(await metric(hub, /floorwatch_mqtt_refused_total\{reason="rate_exceeded"\} (\d+)/)).toBe(1);
    const kept = await eventually(async () => {
      const values = await stored(hub, 'fast-1', 'noise');
      return values.length + dropped === sent - 1 && values;
    });
    expect(kept.length).toBeGreaterThanOrEqual(3);
  });

  it('disconnects a client with more messages waiting for their PUBACK than max_inflight, and acknowledges one within it', async () => {
    const port = hub.hub.mqttPort ?? 0;
    // MQTT 3.1.1 by hand, so several PUBLISH packets reach the broker in one write: it takes them
    // in together, before the journal has acknowledged any.
    const session = async (device: string, messages: number) => {
      const { client, returnCode } = await RawMqtt.connect(port, { clientId: device });
      expect(returnCode).toBe(0);
      const publishes = Array.from({ length: messages }, (_, i) =>
        publishPacket({
          topic: `floorwatch/devices/${device}/telemetry`,
          payload: JSON.stringify({ seq: i, noise: 50 }),
          qos: 1,
          id: i + 1,
        }),
      );
      client.write(Buffer.concat(publishes));
      return client;
    };

    const within = await session('burst-1', 2);
    // Two PUBACKs, and the connection stays.
    await within.expect(PACKET.puback, 1);
    await within.expect(PACKET.puback, 2);
    await within.close();

    const over = await session('burst-2', 3);
    await over.closed;
    expect(await metric(hub, /floorwatch_mqtt_refused_total\{reason="too_many_inflight"\} (\d+)/)).toBe(1);
  });

  it('closes a connection that announces a packet over max_packet_bytes', async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'big-1', reconnectPeriod: 0 });
    expect(
      await publishOrClose(client, 'floorwatch/devices/big-1/telemetry', JSON.stringify({ note: 'x'.repeat(4096) })),
    ).toBe('closed');
    expect(await metric(hub, /floorwatch_mqtt_refused_total\{reason="packet_too_large"\} (\d+)/)).toBe(1);
  });

  it('closes sockets as they come once max_connections and the room for those being refused are open, and counts them', async () => {
    let closed = 0;
    // Sockets that never send CONNECT, more than 3 connections and 256 being refused.
    const sockets = await silentSockets(hub.mqttUrl, 300, () => closed++);
    try {
      const dropped = () => metric(hub, /floorwatch_mqtt_refused_total\{reason="too_many_sockets"\} (\d+)/);
      // Each closed by the hub as it came, none left waiting for connect_timeout.
      await eventually(async () => closed >= 300 - 3 - 256 && closed === (await dropped()), {
        what: 'the sockets past the bound closed and counted',
      });
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('answers CONNACK 3 (server unavailable) above max_connections', async () => {
    const clients = await Promise.all([1, 2, 3].map((i) => mqtt.connectAsync(hub.mqttUrl, { clientId: `c-${i}` })));
    expect(await connackRefusal(hub.mqttUrl, { clientId: 'c-4' })).toBe(3);
    await Promise.all(clients.map((c) => c.endAsync()));
    expect(await metric(hub, /floorwatch_mqtt_refused_total\{reason="too_many_connections"\} (\d+)/)).toBe(1);
  });
});

describe('sockets waiting to connect', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ config: { limits: { max_connecting_per_address: 5 } } });
  });
  afterAll(async () => hub?.dispose());

  it('an address has at most limits.max_connecting_per_address sockets that have not sent CONNECT; clients that did are not counted', async () => {
    let closed = 0;
    const silent = await silentSockets(hub.mqttUrl, 8, () => closed++);
    const refused = () => metric(hub, /floorwatch_mqtt_refused_total\{reason="too_many_connecting"\} (\d+)/);
    await eventually(async () => closed === 3 && (await refused()) === 3, {
      what: 'three sockets past the bound closed',
    });
    // A device from the same address is shut out while they wait, and let in once one goes.
    expect(await connectOrClose(hub.mqttUrl, 'dev-1')).toBe('closed');
    silent.find((socket) => !socket.closed)!.destroy();
    // Once the hub has seen it go.
    await eventually(async () => (await connectOrClose(hub.mqttUrl, 'dev-1')) === 'connected' || undefined, {
      what: 'room for a device once a waiting socket closed',
    });
    const clients: MqttClient[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        clients.push(await mqtt.connectAsync(hub.mqttUrl, { clientId: `dev-${i}`, reconnectPeriod: 0 }));
      }
      expect(clients.every((c) => c.connected)).toBe(true);
    } finally {
      for (const socket of silent) socket.destroy();
      await Promise.all(clients.map((c) => c.endAsync()));
    }
  });
});

/** Connects as `clientId`: 'connected', or 'closed' when the hub closes the socket first. */
async function connectOrClose(url: string, clientId: string): Promise<'connected' | 'closed'> {
  const client = mqtt.connect(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    return await new Promise((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('close', () => resolve('closed'));
    });
  } finally {
    await client.endAsync();
  }
}

/** `count` sockets open to the broker that send nothing; `onClose` is told as each closes. */
function silentSockets(url: string, count: number, onClose: () => void): Promise<Socket[]> {
  const { hostname, port } = new URL(url);
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(Number(port), hostname);
          socket.once('connect', () => resolve(socket));
          socket.once('error', reject);
          socket.once('close', onClose);
        }),
    ),
  );
}
