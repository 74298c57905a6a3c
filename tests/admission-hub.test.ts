// Admission control in a real hub: a flooding client stops being read while the read budget is
// spent, another client's QoS 1 message is still acknowledged, and what the hub holds stays within
// the budget; a flood of QoS 0 is shed and the flooder disconnected.
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { RawMqtt, publishPacket } from './support/mqtt.ts';

describe('admission in a real hub', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.dispose();
    hub = undefined;
  });

  it('a flooding client stops being read while the read budget is spent; another client is still acknowledged', async () => {
    // Shedding off (a long delay, rules far behind allowed): the read budget alone holds the flood back.
    hub = await startTestHub({
      config: {
        limits: {
          max_pending_bytes: 65_536,
          max_ingest_delay: '1h',
          messages_per_second: 1_000_000,
          message_burst: 1_000_000,
        },
        rules: { max_behind: '1h' },
      },
    });
    const budget = 65_536;
    // Four flooders, each read a socket buffer at a time: together more than the budget.
    const flooders = await Promise.all(
      Array.from(
        { length: 4 },
        async (_, n) => (await RawMqtt.connect(hub!.hub.mqttPort!, { clientId: `flood-${n}` })).client,
      ),
    );
    let flooding = true;
    const pump = async (flooder: RawMqtt, n: number) => {
      const burst = Buffer.concat(
        Array.from({ length: 200 }, (_, i) =>
          publishPacket({
            topic: `floorwatch/devices/flood-${n}/telemetry`,
            payload: `{"co2":${600 + (i % 50)}}`,
            qos: 0,
          }),
        ),
      );
      while (flooding && !flooder.socket.destroyed) {
        if (!flooder.socket.write(burst)) await new Promise((resolve) => flooder.socket.once('drain', resolve));
      }
    };
    const pumping = Promise.all(flooders.map(pump));
    const probe = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'probe' });
    for (let i = 0; i < 5; i++)
      await probe.publishAsync('floorwatch/devices/probe/telemetry', JSON.stringify({ seq: i, co2: 500 }), { qos: 1 });
    flooding = false;
    await pumping;
    const { admission } = (
      await hub.json<{ checks: { broker: { admission: { peakPendingBytes: number; pauses: number } } } }>(
        '/api/v1/health',
      )
    ).checks.broker;
    // The flooders were held back, and what the hub held for the journal stayed near the budget.
    expect(admission.pauses).toBeGreaterThanOrEqual(1);
    expect(admission.peakPendingBytes).toBeGreaterThan(budget / 2);
    // The budget is looked at before each read, and a client reads at most one socket buffer (64 KiB) at a time.
    expect(admission.peakPendingBytes).toBeLessThanOrEqual(budget + (flooders.length + 1) * 65_536);
    // Gone at once, not ended: an ending flooder would wait for the hub to read all it had sent.
    for (const f of flooders) f.socket.destroy();
    await probe.endAsync();
    await eventually(
      async () =>
        (await hub!.json<{ points: unknown[] }>('/api/v1/readings?device=probe&metric=co2&from=-1h')).points.length ===
        5,
      { what: "the probe's readings" },
    );
  });

  it('sheds a flood of QoS 0 while a sensor within its share and a QoS 1 device are kept; the flooder is disconnected after rate_grace; health says so', async () => {
    // Overloaded as soon as any message waits 1 ms for the journal: every fsync is long enough.
    hub = await startTestHub({
      config: {
        limits: { max_ingest_delay: '1ms', rate_grace: '1s', messages_per_second: 1_000_000, message_burst: 1_000_000 },
      },
    });
    const { client: flooder } = await RawMqtt.connect(hub.hub.mqttPort!, { clientId: 'flooder' });
    const burst = Buffer.concat(
      Array.from({ length: 200 }, (_, i) =>
        publishPacket({ topic: 'floorwatch/devices/flooder/telemetry', payload: `{"co2":${600 + (i % 50)}}`, qos: 0 }),
      ),
    );
    const pumping = (async () => {
      while (!flooder.socket.destroyed) {
        if (!flooder.socket.write(burst))
          await Promise.race([new Promise((resolve) => flooder.socket.once('drain', resolve)), flooder.closed]);
      }
    })();
    // Looked for at once: the flooder is disconnected a second (rate_grace) into its flood.
    const overloadSeen = await eventually(
      async () => {
        const health = await hub!.json<{ status: string; checks: { broker: { detail: string } } }>('/api/v1/health');
        return (
          health.checks.broker.detail.includes('being shed') && {
            status: health.status,
            detail: health.checks.broker.detail,
            gauge: await metric(hub!, /^floorwatch_mqtt_overloaded (\d+)$/m),
          }
        );
      },
      { intervalMs: 10, what: 'the hub to say it sheds QoS 0 messages' },
    );
    const sensor = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'sensor' });
    const device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'device' });
    for (let i = 0; i < 10; i++) {
      // A reading every 100 ms, well within the share of 20 a second no client goes below.
      await sensor.publishAsync('floorwatch/devices/sensor/telemetry', JSON.stringify({ seq: i, co2: 500 + i }), {
        qos: 0,
      });
      await device.publishAsync('floorwatch/devices/device/telemetry', JSON.stringify({ seq: i, co2: 700 + i }), {
        qos: 1,
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The flooder went past its share in every window for a second (rate_grace): disconnected.
    await flooder.closed;
    await pumping;
    expect(await metric(hub, /^floorwatch_mqtt_refused_total\{reason="flooding"\} (\d+)$/m)).toBe(1);
    expect(await metric(hub, /^floorwatch_mqtt_shed_total (\d+)$/m)).toBeGreaterThan(0);
    expect(overloadSeen).toMatchObject({
      status: 'degraded',
      gauge: 1,
      detail: expect.stringMatching(/QoS 0 messages past \d+\/s per client are being shed/) as unknown,
    });
    await sensor.endAsync();
    await device.endAsync();
    const stored = async (id: string) =>
      (await hub!.json<{ points: unknown[] }>(`/api/v1/readings?device=${id}&metric=co2&from=-1h`)).points.length;
    await eventually(async () => (await stored('sensor')) === 10 && (await stored('device')) === 10, {
      what: 'every reading of the sensor and the QoS 1 device',
    });
    // Once the flood is gone, the hub keeps up again and says so.
    await eventually(async () => (await hub!.json<{ status: string }>('/api/v1/health')).status === 'ok', {
      what: 'health back to ok',
    });
    expect(await metric(hub, /^floorwatch_mqtt_overloaded (\d+)$/m)).toBe(0);
  });
});
