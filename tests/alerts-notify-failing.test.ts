// A receiver that stops taking notifications (a deleted webhook answering 410) is an alert of the
// hub's own, heard through the ways that still work; it resolves once that receiver takes them
// again, and what waited for it arrives.
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
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
});
