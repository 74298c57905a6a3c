// Bridge out to a real Mosquitto 2 over MQTT 5: alert messages, device births and the hub's status
// reach the site's broker; with the broker stopped for 20 s in the middle, nothing is lost, and a
// message that may have been sent before says so.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  delivery?: string;
  repeat?: string;
  /** The site's broker sent it again itself: it had not taken the watcher's PUBACK before it stopped. */
  dup: boolean;
}

const OUTAGE_MS = 20_000;

describe('a bridge out to the site’s broker', () => {
  let broker: MosquittoHandle;
  let hub: TestHub;
  let watcher: MqttClient;
  const seen: Seen[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    // A subscriber on the site's broker with a session the broker keeps across its restart.
    watcher = await mqtt.connectAsync(broker.url, {
      clientId: 'site-watcher',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 200,
    });
    watcher.on('message', (topic, payload, packet) => {
      const props = packet.properties?.userProperties as Record<string, string> | undefined;
      seen.push({
        topic,
        payload: payload.toString(),
        retain: packet.retain,
        delivery: props?.delivery,
        repeat: props?.repeat,
        dup: packet.dup,
      });
    });
    await watcher.subscribeAsync('floorwatch/#', { qos: 1 });
    hub = await startTestHub({
      config: {
        zones: [
          { id: 'server-room', type: 'server_room', rules: { temperature: { for: '0s', keep_firing_for: '0s' } } },
        ],
        devices: [{ id: 't-rack', kind: 'sensor', zone: 'server-room' }],
        notify: { retry_first: '200ms', retry_max: '1s' },
        bridges: [{ name: 'site', url: broker.url }],
      },
    });
  });
  afterAll(async () => {
    await hub?.dispose();
    await watcher?.endAsync(true);
    await broker?.dispose();
  });

  const rack = async (temperature: number) => {
    const c = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-rack' });
    await c.publishAsync('floorwatch/devices/t-rack/telemetry', JSON.stringify({ temperature }), { qos: 1 });
    await c.endAsync();
  };
  const notices = (event: string) =>
    seen.filter(
      (m) =>
        m.topic === 'floorwatch/alerts/server-room/temperature.t-rack' &&
        m.payload !== '' &&
        (JSON.parse(m.payload) as { event: string }).event === event,
    );

  it('delivers every alert, birth and status across a 20 s broker outage, once each or marked as a repeat', async () => {
    await eventually(() => seen.some((m) => m.topic === 'floorwatch/hub/status' && m.payload === 'online'), {
      what: "the hub's status on the site's broker",
    });
    await rack(33);
    await eventually(() => notices('firing').length === 1, { what: 'the alert on the site’s broker' });
    expect(notices('firing')[0]).toMatchObject({ retain: false });
    expect(notices('firing')[0]!.delivery).toMatch(/^\d+$/);

    await broker.stop();
    // Meanwhile: the rack cools down and heats up again, and a device is born.
    await rack(22);
    await rack(34);
    const device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'p-2' });
    await device.publishAsync('floorwatch/devices/p-2/status', 'online', { qos: 1, retain: true });
    await device.endAsync();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await broker.start();

    await eventually(() => notices('firing').length >= 2 && notices('resolved').length >= 1, {
      what: 'the alerts of the outage on the site’s broker',
      timeoutMs: 30_000,
    });
    await eventually(() => seen.some((m) => m.topic === 'floorwatch/devices/p-2/status' && m.payload === 'online'), {
      what: "p-2's birth",
    });
    // Each notice once by its delivery id; a second copy the hub sent is marked as a repeat. A copy
    // the site's broker re-sent to the watcher (its PUBACK unread as the broker stopped) carries
    // the marks of the copy it repeats: at least once between those two is the broker's doing.
    const byDelivery = new Map<string, Seen[]>();
    for (const m of [...notices('firing'), ...notices('resolved')])
      byDelivery.set(m.delivery!, [...(byDelivery.get(m.delivery!) ?? []), m]);
    expect(byDelivery.size).toBe(3);
    for (const copies of byDelivery.values())
      for (const later of copies.slice(1).filter((m) => !m.dup)) expect(later.repeat).toBe('yes');
    // What was tried while the broker was away says it may have been sent before.
    expect(notices('resolved')[0]!.repeat).toBe('yes');

    // A new subscriber on the site's broker finds what is true now, as on the hub's own broker.
    const retainedOn = async (url: string) => {
      const late = await mqtt.connectAsync(url, {
        clientId: `late-${Math.random()}`,
        protocolVersion: url === broker.url ? 5 : 4,
      });
      const retained: string[] = [];
      late.on('message', (topic, payload, packet) => {
        if (packet.retain)
          retained.push(`${topic} ${(/"event":"(\w+)"/.exec(payload.toString()) ?? [payload.toString()]).at(-1)}`);
      });
      await late.subscribeAsync(['floorwatch/alerts/#', 'floorwatch/devices/p-2/status', 'floorwatch/hub/status'], {
        qos: 1,
      });
      await eventually(() => retained.length >= 3, { what: `the retained messages on ${url}` });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await late.endAsync();
      return retained.sort();
    };
    const site = await retainedOn(broker.url);
    expect(site).toContain('floorwatch/alerts/server-room/temperature.t-rack firing');
    expect(site).toContain('floorwatch/devices/p-2/status online');
    expect(site).toEqual(await retainedOn(hub.mqttUrl));
  });
});
