// The broker's memory has bounds a client cannot talk its way past: devices publish only their
// contract topics, retained messages only where the contract says and within a total, packets no
// bigger than ingest takes, and a client that does not read, or a persistent session that does not
// come back, is held to a queue of its own. Real sockets: mqtt.js, and packets written by hand.
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { connect as connectSocket } from 'node:net';
import { connectPacket, PACKET, RawMqtt, subscribePacket } from './support/mqtt.ts';

/**
 * Subscribes a new client to `filter` and collects the retained messages the broker sends it.
 * They follow the SUBACK one by one, so a test waits for what it expects to have arrived.
 */
async function retainedUnder(
  url: string,
  filter: string,
  login?: { username: string; password: string },
): Promise<{ seen: Map<string, Buffer>; close(): Promise<void> }> {
  const client = await mqtt.connectAsync(url, {
    clientId: `${login?.username ?? 'look'}-${Math.random().toString(36).slice(2)}`,
    ...login,
  });
  const seen = new Map<string, Buffer>();
  client.on('message', (topic, payload, packet) => {
    if (packet.retain) seen.set(topic, payload);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return { seen, close: () => client.endAsync() };
}

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

describe("the broker's memory", () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.dispose();
    hub = undefined;
  });

  it('a device may publish only its telemetry, heartbeat and status; a junk topic under its id disconnects it and nothing is retained', async () => {
    hub = await startTestHub();
    const password = await new DeviceCredentials(hub.dataDir).add('dev-a', undefined, Date.now());
    const token = new ApiTokens(hub.dataDir).create('look', 'viewer', Date.now());
    const device = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'dev-a',
      username: 'dev-a',
      password,
      reconnectPeriod: 0,
    });
    await device.publishAsync('floorwatch/devices/dev-a/status', 'online', { qos: 1, retain: true });
    const gone = closed(device);
    device.publish('floorwatch/devices/dev-a/junk/1', Buffer.alloc(1000, 120), { qos: 1, retain: true });
    await gone;
    expect(await metric(hub, /^floorwatch_mqtt_refused_total\{reason="publish_denied"\} (\d+)$/m, token)).toBe(1);
    const look = await retainedUnder(hub.mqttUrl, 'floorwatch/devices/dev-a/#', { username: 'look', password: token });
    // The birth came first and is kept; the junk, had it been kept, would come with it.
    await eventually(() => look.seen.has('floorwatch/devices/dev-a/status'), { what: "dev-a's retained birth" });
    expect([...look.seen.keys()]).toEqual(['floorwatch/devices/dev-a/status']);
    await look.close();
  });

  it("no client writes the hub's own topics: a retained hub status 'offline' is refused, and the hub's 'online' stays", async () => {
    hub = await startTestHub();
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'page', reconnectPeriod: 0 });
    const gone = closed(client);
    client.publish('floorwatch/hub/status', 'offline', { qos: 1, retain: true });
    await gone;
    const look = await retainedUnder(hub.mqttUrl, 'floorwatch/hub/status');
    await eventually(() => look.seen.has('floorwatch/hub/status'), { what: "the hub's retained status" });
    expect(look.seen.get('floorwatch/hub/status')?.toString()).toBe('online');
    await look.close();
  });

  it('a retained reading is stored and delivered, but not kept: under the prefix only a device status is retained', async () => {
    hub = await startTestHub();
    const device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'env-1' });
    await device.publishAsync('floorwatch/devices/env-1/status', 'online', { qos: 1, retain: true });
    await device.publishAsync('floorwatch/devices/env-1/telemetry', '{"co2":640}', { qos: 1, retain: true });
    await device.endAsync();
    expect(await metric(hub, /^floorwatch_mqtt_retain_ignored_total\{reason="not_retained_topic"\} (\d+)$/m)).toBe(1);
    const look = await retainedUnder(hub.mqttUrl, 'floorwatch/devices/env-1/#');
    await eventually(() => look.seen.has('floorwatch/devices/env-1/status'), { what: "env-1's retained birth" });
    expect([...look.seen.keys()]).toEqual(['floorwatch/devices/env-1/status']);
    await look.close();
    await eventually(
      async () =>
        (await hub!.json<{ points: unknown[] }>('/api/v1/readings?device=env-1&metric=co2&from=-1h')).points.length ===
        1,
    );
  });

  it('a packet larger than ingest takes closes the connection before it is read in', async () => {
    hub = await startTestHub({ config: { ingest: { max_payload_bytes: 4096 } } });
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'big', reconnectPeriod: 0 });
    const gone = closed(client);
    client.publish('floorwatch/devices/big/telemetry', Buffer.alloc(100_000, 120), { qos: 1 });
    await gone;
    expect(await metric(hub, /^floorwatch_mqtt_refused_total\{reason="packet_too_large"\} (\d+)$/m)).toBe(1);
  });

  it('what clients retain stays within limits.max_retained_bytes; past it a message is delivered, not kept, and clearing one makes room', async () => {
    hub = await startTestHub({
      config: { limits: { max_retained_bytes: 65_536, messages_per_second: 10_000, message_burst: 10_000 } },
    });
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'site-tool' });
    const live: string[] = [];
    const watcher = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'watcher' });
    watcher.on('message', (topic) => live.push(topic));
    await watcher.subscribeAsync('site/#', { qos: 1 });
    for (let i = 0; i < 200; i++)
      await client.publishAsync(`site/junk/${i}`, Buffer.alloc(1000, 120), { qos: 1, retain: true });
    await eventually(() => live.length === 200, { what: 'every message delivered live' });
    // 1,000 bytes, a topic of about 11 and 256 for the broker's record: 51 fit in 64 KiB.
    expect(await metric(hub, /^floorwatch_mqtt_retained_bytes (\d+)$/m)).toBeLessThanOrEqual(65_536);
    expect(await metric(hub, /^floorwatch_mqtt_retain_ignored_total\{reason="retained_full"\} (\d+)$/m)).toBe(149);
    const kept = await retainedUnder(hub.mqttUrl, 'site/#');
    await eventually(() => kept.seen.size === 51, { what: 'the 51 retained messages that fit' });
    expect([...kept.seen.keys()].sort()).toEqual(Array.from({ length: 51 }, (_, i) => `site/junk/${i}`).sort());
    await kept.close();
    await client.publishAsync('site/junk/0', Buffer.alloc(0), { qos: 1, retain: true });
    await client.publishAsync('site/junk/199', Buffer.alloc(1000, 121), { qos: 1, retain: true });
    const after = await retainedUnder(hub.mqttUrl, 'site/#');
    await eventually(() => after.seen.get('site/junk/199')?.[0] === 121, {
      what: 'the message that took the room freed',
    });
    expect(after.seen.has('site/junk/0')).toBe(false);
    await after.close();
    await client.endAsync();
    await watcher.endAsync();
  });

  it('a subscriber that never reads is disconnected once its queue is full, while the broker keeps serving the others', async () => {
    hub = await startTestHub({
      config: {
        limits: {
          max_queued_bytes: 262_144,
          max_queued_messages: 10_000,
          messages_per_second: 100_000,
          message_burst: 100_000,
        },
      },
    });
    const { client: stuck, returnCode } = await RawMqtt.connect(hub.hub.mqttPort!, { clientId: 'never-reads' });
    expect(returnCode).toBe(0);
    stuck.write(subscribePacket(1, 'site/#', 0));
    await stuck.expect(PACKET.suback, 1);
    stuck.socket.pause();
    const reader = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'reads' });
    let received = 0;
    reader.on('message', () => received++);
    await reader.subscribeAsync('site/#', { qos: 0 });
    const publisher = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'bulk' });
    // The kernel's socket buffers on loopback take tens of MB before the hub has to hold any: send
    // until the hub gives up on the stuck client, 180 MB at the most.
    const payload = Buffer.alloc(60_000, 120);
    const overflowed = () => metric(hub!, /^floorwatch_mqtt_refused_total\{reason="outgoing_queue_full"\} (\d+)$/m);
    let sent = 0;
    while ((await overflowed()) === 0 && sent < 3000) {
      for (let i = 0; i < 50; i++) await publisher.publishAsync('site/bulk', payload, { qos: 1 });
      sent += 50;
    }
    // The stuck client sees its connection closed once it reads again.
    stuck.socket.resume();
    await stuck.closed;
    await eventually(() => received === sent, { what: 'the reading subscriber to get every message' });
    expect(await metric(hub, /^floorwatch_mqtt_refused_total\{reason="outgoing_queue_full"\} (\d+)$/m)).toBe(1);
    await publisher.endAsync();
    await reader.endAsync();
  });

  it('a persistent session that stays away is kept at most limits.max_queued_messages messages', async () => {
    hub = await startTestHub({
      config: { limits: { max_queued_messages: 100, messages_per_second: 10_000, message_burst: 10_000 } },
    });
    const away = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'away', clean: false });
    await away.subscribeAsync('site/#', { qos: 1 });
    await away.endAsync();
    const publisher = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'bulk' });
    for (let i = 0; i < 500; i++) await publisher.publishAsync('site/log', String(i), { qos: 1 });
    await publisher.endAsync();
    expect(await metric(hub, /^floorwatch_mqtt_queue_dropped_total (\d+)$/m)).toBe(400);
    const back = mqtt.connect(hub.mqttUrl, { clientId: 'away', clean: false });
    const got: string[] = [];
    back.on('message', (_topic, payload) => got.push(payload.toString()));
    await eventually(() => got.length === 100, { what: 'the kept messages' });
    // The oldest are kept, in order; what came after the bound was not.
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    await back.endAsync();
  });
});

describe("the broker's subscriptions", () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.dispose();
    hub = undefined;
  });

  it('a client holds at most limits.max_subscriptions_per_client topics and all clients max_subscriptions; past either the SUBACK refuses, and unsubscribing or leaving makes room', async () => {
    hub = await startTestHub({ config: { limits: { max_subscriptions_per_client: 3, max_subscriptions: 5 } } });
    const connect = (clientId: string) => mqtt.connectAsync(hub!.mqttUrl, { clientId, reconnectPeriod: 0 });
    /** The SUBACK's codes: mqtt.js rejects one with a failure in it, and keeps the packet on the error. */
    const codes = (client: MqttClient, topics: string[]) =>
      client.subscribeAsync(topics, { qos: 1 }).then(
        (grants) => grants.map((g) => g.qos),
        (err: unknown) => (err as { packet?: { granted?: number[] } }).packet?.granted ?? [],
      );
    // Names that every plain object has, as topics.
    const topicOf = (name: string) => `floorwatch/zones/${name}/state`;
    const a = await connect('look-a');
    expect(await codes(a, ['__proto__', 'constructor', 'toString', 'hasOwnProperty'].map(topicOf))).toEqual([
      1, 1, 1, 128,
    ]);
    // One it holds already is no further subscription.
    expect(await codes(a, [topicOf('constructor')])).toEqual([1]);
    const b = await connect('look-b');
    expect(await codes(b, ['b1', 'b2', 'b3'].map(topicOf))).toEqual([1, 1, 128]);
    expect(a.connected && b.connected).toBe(true);
    await a.unsubscribeAsync(topicOf('toString'));
    expect(await codes(b, [topicOf('b3')])).toEqual([1]);
    expect(await metric(hub, /^floorwatch_mqtt_subscriptions (\d+)$/m)).toBe(5);
    await a.endAsync();
    await eventually(async () => (await metric(hub!, /^floorwatch_mqtt_subscriptions (\d+)$/m)) === 3, {
      what: "look-a's subscriptions released as it leaves",
    });
    expect(await metric(hub, /^floorwatch_mqtt_refused_total\{reason="too_many_subscriptions"\} (\d+)$/m)).toBe(2);
    await b.endAsync();
  });

  it("keeps of a persistent session's subscriptions only those granted, and counts none of a connection lost while they are restored", async () => {
    hub = await startTestHub({ config: { limits: { max_subscriptions_per_client: 2 } } });
    const subscriptions = () => metric(hub!, /^floorwatch_mqtt_subscriptions (\d+)$/m);
    const refusedForBound = () =>
      metric(hub!, /^floorwatch_mqtt_refused_total\{reason="too_many_subscriptions"\} (\d+)$/m);
    const keeper = () => mqtt.connectAsync(hub!.mqttUrl, { clientId: 'keeper', clean: false, reconnectPeriod: 0 });
    let client = await keeper();
    await client
      .subscribeAsync(['floorwatch/zones/a/state', 'floorwatch/zones/b/state', 'floorwatch/zones/c/state'], {
        qos: 1,
      })
      .catch(() => undefined);
    expect(await refusedForBound()).toBe(1);
    await client.endAsync();
    // The session comes back with the two it was granted; the third was never kept, so not refused again.
    client = await keeper();
    expect(await subscriptions()).toBe(2);
    expect(await refusedForBound()).toBe(1);
    await client.endAsync();
    await eventually(async () => (await subscriptions()) === 0 || undefined, { what: 'the subscriptions released' });
    // Connections that go while their session is restored, before the broker has them as clients.
    const { hostname, port } = new URL(hub.mqttUrl);
    for (let i = 0; i < 5; i++) {
      const socket = connectSocket(Number(port), hostname);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.end(connectPacket({ clientId: 'keeper', clean: false }));
      await new Promise((resolve) => socket.once('close', resolve));
    }
    await eventually(async () => (await subscriptions()) === 0 || undefined, { what: 'nothing counted for them' });
  });
});
