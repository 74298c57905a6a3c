// A receiver that stops taking notifications (a deleted webhook answering 410) is an alert of the
// hub's own, heard through the ways that still work; it resolves once that receiver takes them
// again, and what waited for it arrives.
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { capturedLog, eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { startPostReceiver, type PostReceiver } from './support/receiver.ts';

const SECRET = 'a-webhook-secret-for-this-test';

interface Alert {
  key: string;
  state: string;
  severity: string;
  summary: string;
}

describe('notifications that do not get through', () => {
  let hub: TestHub | undefined;
  const receivers: PostReceiver[] = [];
  afterEach(async () => {
    await hub?.dispose();
    hub = undefined;
    for (const r of receivers.splice(0)) await r.close();
  });

  it('raise notify_failing after notify_failing_after, through the webhook that works, and resolve once the other takes them again', async () => {
    let gone = true;
    const deleted = await startPostReceiver(() => (gone ? 410 : 200));
    const working = await startPostReceiver();
    receivers.push(deleted, working);
    hub = await startTestHub({
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        rules: { notify_failing_after: '1s' },
        notify: {
          retry_first: '100ms',
          retry_max: '500ms',
          webhooks: [
            { url: `${deleted.url}/gone`, secret: SECRET },
            { url: `${working.url}/hook`, secret: SECRET },
          ],
        },
      },
    });
    const device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'hs-1' });
    await device.publishAsync('floorwatch/devices/hs-1/telemetry', JSON.stringify({ noise_peak: 140 }), { qos: 1 });
    await device.endAsync();
    const alerts = async () => (await hub!.json<{ alerts: Alert[] }>('/api/v1/alerts')).alerts;
    const failing = await eventually(
      async () => (await alerts()).find((a) => a.key === 'notify_failing.hub' && a.state === 'firing'),
      { what: 'the notify_failing alert' },
    );
    expect(failing.severity).toBe('warning');
    expect(failing.summary).toMatch(
      /^alert notifications are not getting through: webhook http:\/\/127\.0\.0\.1:\d+ has failed for \d+ min \(.*410.*\), \d+ waiting/,
    );
    // Its path, often a webhook's secret, is not told.
    expect(failing.summary).not.toContain('/gone');
    const heard = (r: PostReceiver) => r.posts.map((p) => JSON.stringify(p.body));
    await eventually(async () => heard(working).some((b) => b.includes('notify_failing')), {
      what: 'the working webhook to hear of it',
    });
    expect(heard(working).some((b) => b.includes('noise_peak'))).toBe(true);

    gone = false;
    await eventually(
      async () => (await alerts()).some((a) => a.key === 'notify_failing.hub' && a.state === 'resolved'),
      { what: 'notify_failing to resolve', timeoutMs: 20_000 },
    );
    // What waited arrives, the hub's own alert last of all resolved.
    await eventually(async () => heard(deleted).filter((b) => b.includes('noise_peak')).length >= 2, {
      what: 'the waiting notifications at the webhook that came back',
    });
  });

  it('keep at most notify.max_undelivered for a receiver that cannot take them: the oldest go, counted and told in the alert; the newest arrive once it is back', async () => {
    let gone = true;
    const deleted = await startPostReceiver(() => (gone ? 503 : 200));
    receivers.push(deleted);
    const log = capturedLog('warn');
    hub = await startTestHub({
      log: log.log,
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        rules: { notify_failing_after: '1s' },
        notify: {
          retry_first: '100ms',
          retry_max: '200ms',
          max_undelivered: 10,
          webhooks: [{ url: `${deleted.url}/gone`, secret: SECRET }],
        },
      },
    });
    // Fifteen headsets, each a noise peak alert: fifteen notifications, and the hub's own.
    const devices = Array.from({ length: 15 }, (_, i) => `hs-${String(i + 1).padStart(2, '0')}`);
    for (const id of devices) {
      const device = await mqtt.connectAsync(hub.mqttUrl, { clientId: id });
      await device.publishAsync(`floorwatch/devices/${id}/telemetry`, JSON.stringify({ noise_peak: 140 }), { qos: 1 });
      await device.endAsync();
    }
    const alerts = async () => (await hub!.json<{ alerts: Alert[] }>('/api/v1/alerts')).alerts;
    await eventually(
      async () => (await alerts()).filter((a) => a.key.startsWith('noise_peak.') && a.state === 'firing').length === 15,
      { what: 'an alert for each headset' },
    );
    const dropped = /^floorwatch_notifications_dropped_total\{target="webhook http:\/\/127\.0\.0\.1:\d+"\} (\d+)/m;
    await eventually(async () => (await metric(hub!, dropped)) >= 5, {
      what: 'the oldest notifications to be dropped',
    });
    const failing = await eventually(
      async () => (await alerts()).find((a) => a.key === 'notify_failing.hub' && a.state === 'firing'),
      { what: 'the notify_failing alert' },
    );
    expect(failing.summary).toMatch(/10 waiting \(the oldest \d+ dropped, past notify\.max_undelivered\)/);
    expect(log.text()).toContain('the most kept (notify.max_undelivered)');

    // What the receiver takes from now on (it answered 503 to every post before).
    const refused = deleted.posts.length;
    gone = false;
    const heard = () => deleted.posts.slice(refused).map((p) => JSON.stringify(p.body));
    await eventually(async () => heard().some((b) => b.includes('hs-15')), { what: 'the newest notification' });
    // The first headsets' notices were the oldest: dropped, never delivered.
    expect(heard().some((b) => b.includes('hs-01'))).toBe(false);
    expect(heard().filter((b) => b.includes('noise_peak.')).length).toBeLessThanOrEqual(10);
  });
});
