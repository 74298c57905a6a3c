// A QoS 2 message is journaled once, however often it arrives before its PUBREL: a DUP re-send
// with the same packet id is answered with PUBREC and nothing more. Raw MQTT 3.1.1 packets, so
// the test decides exactly what the hub sees and in which writes.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { PACKET, publishPacket, pubrelPacket, RawMqtt } from './support/mqtt.ts';

describe('QoS 2 messages sent more than once', () => {
  let hub: TestHub;
  let port: number;
  const accepted = async () => (await hub.hub.metrics.readingsAccepted.get()).values[0]?.value ?? 0;
  const telemetry = (device: string) => `floorwatch/devices/${device}/telemetry`;
  // No seq and no ts: ingest's own duplicate filter cannot tell copies apart, only the broker can.
  const reading = (value: number) => JSON.stringify({ temperature: value });

  beforeAll(async () => {
    hub = await startTestHub();
    port = hub.hub.mqttPort ?? 0;
  });
  afterAll(async () => hub?.dispose());

  it('journals a message re-sent with DUP before its PUBREL once, and a subscriber gets it once', async () => {
    const watcher = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'q2-watch' });
    const seen: string[] = [];
    watcher.on('message', (_topic, payload) => seen.push(payload.toString()));
    await watcher.subscribeAsync(telemetry('q2-a'), { qos: 2 });
    const before = await accepted();
    const { client, returnCode } = await RawMqtt.connect(port, { clientId: 'q2-a' });
    expect(returnCode).toBe(0);
    client.write(publishPacket({ topic: telemetry('q2-a'), payload: reading(21), qos: 2, id: 7 }));
    await client.expect(PACKET.pubrec, 7);
    client.write(publishPacket({ topic: telemetry('q2-a'), payload: reading(21), qos: 2, id: 7, dup: true }));
    await client.expect(PACKET.pubrec, 7);
    client.write(publishPacket({ topic: telemetry('q2-a'), payload: reading(21), qos: 2, id: 7, dup: true }));
    await client.expect(PACKET.pubrec, 7);
    client.write(pubrelPacket(7));
    await client.expect(PACKET.pubcomp, 7);
    expect((await accepted()) - before).toBe(1);

    // After PUBCOMP the id is free again: a new message may use it, and is journaled.
    client.write(publishPacket({ topic: telemetry('q2-a'), payload: reading(22), qos: 2, id: 7 }));
    await client.expect(PACKET.pubrec, 7);
    client.write(pubrelPacket(7));
    await client.expect(PACKET.pubcomp, 7);
    expect((await accepted()) - before).toBe(2);
    await client.close();
    // A second forward of the first message would arrive before the second message.
    expect(await eventually(() => seen.length >= 2 && seen)).toEqual([reading(21), reading(22)]);
    await watcher.endAsync();
  });

  it('journals once when the message and its re-send arrive in one write', async () => {
    const before = await accepted();
    const { client } = await RawMqtt.connect(port, { clientId: 'q2-b' });
    const message = { topic: telemetry('q2-b'), payload: reading(23), qos: 2 as const, id: 300 };
    client.write(
      Buffer.concat([
        publishPacket(message),
        publishPacket({ ...message, dup: true }),
        publishPacket({ ...message, dup: true }),
      ]),
    );
    for (let i = 0; i < 3; i++) await client.expect(PACKET.pubrec, 300);
    client.write(pubrelPacket(300));
    await client.expect(PACKET.pubcomp, 300);
    expect((await accepted()) - before).toBe(1);
    await client.close();
  });

  it('journals once when a persistent session re-sends the message after a reconnect', async () => {
    const before = await accepted();
    const message = { topic: telemetry('q2-c'), payload: reading(24), qos: 2 as const, id: 41 };
    const first = await RawMqtt.connect(port, { clientId: 'q2-c', clean: false });
    first.client.write(publishPacket(message));
    await first.client.expect(PACKET.pubrec, 41);
    // The PUBREC was lost with the connection, as far as the client knows: it sends the message again.
    await first.client.close();
    const again = await RawMqtt.connect(port, { clientId: 'q2-c', clean: false });
    expect(again.returnCode).toBe(0);
    again.client.write(publishPacket({ ...message, dup: true }));
    await again.client.expect(PACKET.pubrec, 41);
    again.client.write(pubrelPacket(41));
    await again.client.expect(PACKET.pubcomp, 41);
    expect((await accepted()) - before).toBe(1);
    await again.client.close();
  });
});
