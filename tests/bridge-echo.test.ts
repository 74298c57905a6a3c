// A bridge that sends device births out and takes device status in (as the README's example
// does) must not send back what it took in: the hub's own birth comes back from the site's broker
// once and stops there, and a birth heard from the site's broker is not sent to it again. Before,
// each went round between the hub and the broker for good, a journal entry per turn.
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { bridgeOk, eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';

const STATUS_IN = /^floorwatch_messages_received_total\{source="bridge",kind="status"\} (\d+)$/m;

describe('a bridge both ways for device status', () => {
  let broker: MosquittoHandle | undefined;
  let hub: TestHub | undefined;
  afterAll(async () => {
    await hub?.dispose();
    await broker?.dispose();
  });

  it('takes each birth in once, and sends out only those of the hub’s own devices', async () => {
    broker = await startMosquitto();
    hub = await startTestHub({
      config: {
        bridges: [
          {
            name: 'site',
            url: broker.url,
            out: { alerts: false, status: true },
            in: { topics: ['floorwatch/devices/+/status'] },
          },
        ],
      },
    });
    await eventually(() => bridgeOk(hub!), { what: 'the bridge to connect' });
    const site = await mqtt.connectAsync(broker.url, { clientId: 'site-watcher' });
    const heard: string[] = [];
    site.on('message', (topic, payload) => heard.push(`${topic} ${payload.toString()}`));
    await site.subscribeAsync('floorwatch/devices/+/status', { qos: 1 });

    // A device of the hub is born: its birth goes to the site's broker and comes back once.
    const own = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'env-1' });
    await own.publishAsync('floorwatch/devices/env-1/status', 'online', { qos: 1, retain: true });
    await own.endAsync();
    await eventually(async () => (await metric(hub!, STATUS_IN)) >= 1, { what: 'the birth back from the site' });

    // Devices of the site are born there, one after another: each is taken in once, and none of
    // them goes back to the site's broker from the hub.
    for (let i = 1; i <= 5; i++) {
      const device = await mqtt.connectAsync(broker.url, { clientId: `site-${i}` });
      await device.publishAsync(`floorwatch/devices/site-${i}/status`, 'online', { qos: 1 });
      await device.endAsync();
      await eventually(
        async () =>
          (await hub!.json<{ devices: { id: string }[] }>('/api/v1/devices')).devices.some((d) => d.id === `site-${i}`),
        { what: `site-${i} in the hub's device list` },
      );
    }
    expect(await metric(hub, STATUS_IN)).toBe(6);
    await site.endAsync();
    expect(heard.filter((h) => h === 'floorwatch/devices/env-1/status online')).toHaveLength(1);
    for (let i = 1; i <= 5; i++)
      expect(heard.filter((h) => h.startsWith(`floorwatch/devices/site-${i}/`))).toHaveLength(1);
  });
});
