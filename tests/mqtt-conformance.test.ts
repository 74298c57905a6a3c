// MQTT 3.1.1 clauses other brokers' clients rely on, checked with clients this project did not
// write: mosquitto_pub / mosquitto_sub, and raw packets on a socket.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { mosquittoClients } from './support/mosquitto-clients.ts';
import {
  PACKET,
  pubackPacket,
  pubcompPacket,
  pubrecPacket,
  RawMqtt,
  readPublish,
  subscribePacket,
  unsubscribePacket,
} from './support/mqtt.ts';

describe('MQTT 3.1.1 interoperability', () => {
  let hub: TestHub;
  let port: string;
  beforeAll(async () => {
    hub = await startTestHub();
    port = String(hub.hub.mqttPort);
  });
  afterAll(async () => {
    await hub.dispose();
  });
  // Read the port when called: it is known once the hub has started.
  const sub = (args: string[]) => mosquittoClients(port).sub(args);
  const pub = (topic: string, message: string, ...args: string[]) =>
    mosquittoClients(port).pub(topic, message, ...args);

  it('[MQTT-3.1.3-6/7] gives a client with a zero-length id and a clean session an id of its own, and accepts it', async () => {
    const { client, returnCode } = await RawMqtt.connect(Number(port), { clientId: '', clean: true });
    await client.close();
    expect(returnCode).toBe(0);
  });

  it('[MQTT-3.1.3-8] answers CONNACK 2 to a zero-length id without a clean session', async () => {
    const { client, returnCode } = await RawMqtt.connect(Number(port), { clientId: '', clean: false });
    await client.close();
    expect(returnCode).toBe(2);
  });

  it('accepts keepalive 0, which means no keepalive', async () => {
    const { client, returnCode } = await RawMqtt.connect(Number(port), { clientId: 'no-keepalive', keepalive: 0 });
    await client.close();
    expect(returnCode).toBe(0);
  });

  it('[MQTT-4.7.2-1] acknowledges a publish to a $ topic and routes it to exact and $-rooted filters, never to # or +', async () => {
    const { watch } = mosquittoClients(port);
    const subscriber = (filter: string) =>
      watch(['-q', '1', '-t', filter, '-v', '-i', `sub-${filter.length}-${Math.random()}`]);
    const dollar = subscriber('$TopicA/#');
    const everything = subscriber('#');
    const level = subscriber('+/B');
    try {
      // Subscribed when a plain message on a control topic reaches them all.
      await eventually(
        async () => {
          await pub('x/B', 'ready');
          return everything.out().includes('x/B ready') && level.out().includes('x/B ready');
        },
        { what: 'the subscribers', intervalMs: 200 },
      );
      await eventually(
        async () => {
          await pub('$TopicA/B', 'dollar');
          return dollar.out().includes('$TopicA/B dollar');
        },
        { what: 'the $ message on $TopicA/#', intervalMs: 200 },
      );
      await pub('x/B', 'after');
      await eventually(() => everything.out().includes('x/B after') && level.out().includes('x/B after'), {
        what: 'the later message',
      });
      expect(everything.out()).not.toContain('$TopicA');
      expect(level.out()).not.toContain('$TopicA');
    } finally {
      for (const s of [dollar, everything, level]) s.child.kill();
    }
  });

  it('[MQTT-3.3.1-5/6/10] keeps a retained message for new subscribers, and a zero-length one clears it', async () => {
    await pub('interop/retained/a', 'qos0', '-r');
    await pub('interop/retained/b', 'qos1', '-r');
    expect((await sub(['-t', 'interop/retained/#', '-C', '2', '-W', '10'])).trim().split('\n').sort()).toEqual([
      'interop/retained/a qos0',
      'interop/retained/b qos1',
    ]);
    await pub('interop/retained/a', '', '-r');
    await pub('interop/retained/b', '', '-r');
    expect((await sub(['-t', 'interop/retained/#', '-W', '1'])).trim()).toBe('');
  });

  it('[MQTT-3.1.2-4/5] keeps QoS 1 messages for a client with a session while it is away', async () => {
    // Subscribed with a session kept (-c), then gone once the subscription is acknowledged (-E).
    await sub(['-t', 'interop/offline', '-q', '1', '-c', '-i', 'interop-offline', '-E']);
    await pub('interop/offline', 'one');
    await pub('interop/offline', 'two');
    const back = await sub(['-t', 'interop/offline', '-q', '1', '-c', '-i', 'interop-offline', '-C', '2', '-W', '5']);
    expect(back.trim().split('\n')).toEqual(['interop/offline one', 'interop/offline two']);
  });

  it('[MQTT-3.1.2-8] publishes the will of a client that vanished without DISCONNECT', async () => {
    const watcher = sub(['-t', 'interop/will', '-C', '1', '-W', '10']);
    // The broker announces each client it registers on $SYS: then the will is stored.
    const sys = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'interop-sys' });
    const registered = new Promise<void>((resolve) =>
      sys.on('message', (_topic, payload) => {
        if (payload.toString() === 'interop-doomed') resolve();
      }),
    );
    await sys.subscribeAsync('$SYS/+/new/clients');
    const { child: doomed } = mosquittoClients(port).watch([
      '-t',
      'interop/nothing',
      '-i',
      'interop-doomed',
      '--will-topic',
      'interop/will',
      '--will-payload',
      'gone',
      '--will-qos',
      '1',
    ]);
    await registered;
    await sys.endAsync();
    doomed.kill('SIGKILL');
    // Retained, so the watcher has it whenever its subscription landed.
    expect((await watcher).trim()).toBe('interop/will gone');
    await pub('interop/will', '', '-r');
  });

  it('[MQTT-3.3.5-1] delivers a message matching overlapping subscriptions at the highest QoS granted', async () => {
    const { child, out } = mosquittoClients(port).watch([
      ...['-t', 'interop/overlap/#', '-t', 'interop/overlap/+', '-q', '1'],
      ...['-F', '%t %q %p', '-i', 'interop-overlap'],
    ]);
    try {
      // Published until the subscriber, whose SUBACK cannot be seen from here, has it.
      await eventually(
        async () => {
          await pub('interop/overlap/x', 'both');
          return out().includes('\n');
        },
        { what: 'the message on overlapping subscriptions', intervalMs: 200 },
      );
    } finally {
      child.kill();
    }
    // Once or twice per message (3.1.1 allows either), each copy at QoS 1: the higher of what was granted and sent.
    for (const line of out().trim().split('\n')) expect(line).toBe('interop/overlap/x 1 both');
  });

  it('[MQTT-4.4.0-1, 3.3.1-1] sends unacknowledged messages and PUBRELs again, marked DUP, when a client with a session reconnects', async () => {
    const session = { clientId: 'interop-redeliver', clean: false };
    const first = (await RawMqtt.connect(Number(port), session)).client;
    first.write(subscribePacket(1, 'interop/redeliver/#', 2));
    await first.expect(PACKET.suback, 1);
    await pub('interop/redeliver/one', 'at-least-once');
    await pub('interop/redeliver/two', 'exactly-once', '-q', '2');
    await pub('interop/redeliver/three', 'released', '-q', '2');
    // Received and never acknowledged: the first two. The third is acknowledged as far as PUBREC.
    const got = [readPublish(await first.expect(PACKET.publish)), readPublish(await first.expect(PACKET.publish))];
    const third = readPublish(await first.expect(PACKET.publish));
    expect(third.payload).toBe('released');
    first.write(pubrecPacket(third.id ?? 0));
    await first.expect(PACKET.pubrel, third.id);
    await first.close();
    // Queued while the client is away, never sent: not a repeat.
    await pub('interop/redeliver/four', 'queued');

    const { client: again, returnCode } = await RawMqtt.connect(Number(port), session);
    expect(returnCode).toBe(0);
    const resent = [readPublish(await again.expect(PACKET.publish)), readPublish(await again.expect(PACKET.publish))];
    expect(resent.map(({ topic, payload, qos, id }) => ({ topic, payload, qos, id }))).toEqual(
      got.map(({ topic, payload, qos, id }) => ({ topic, payload, qos, id })),
    );
    expect(resent.map((m) => m.dup)).toEqual([true, true]);
    expect(got.map((m) => m.payload)).toEqual(['at-least-once', 'exactly-once']);
    await again.expect(PACKET.pubrel, third.id);
    const queued = readPublish(await again.expect(PACKET.publish));
    expect([queued.payload, queued.dup]).toEqual(['queued', false]);
    again.write(pubackPacket(queued.id ?? 0));
    again.write(pubackPacket(resent[0]?.id ?? 0));
    again.write(pubrecPacket(resent[1]?.id ?? 0));
    await again.expect(PACKET.pubrel, resent[1]?.id);
    again.write(pubcompPacket(resent[1]?.id ?? 0));
    again.write(pubcompPacket(third.id ?? 0));
    await again.close();

    // All acknowledged: a third connection gets nothing of them, only what comes next.
    const last = (await RawMqtt.connect(Number(port), session)).client;
    await pub('interop/redeliver/after', 'next');
    expect(readPublish(await last.expect(PACKET.publish)).payload).toBe('next');
    await last.close();
  });

  it('[MQTT-3.10.4] stops sending on filters a client unsubscribed from, and keeps the others', async () => {
    const client = (await RawMqtt.connect(Number(port), { clientId: 'interop-unsubscribe' })).client;
    const filters = ['interop/unsub/a', 'interop/unsub/b/#', 'interop/unsub/+/c'];
    for (const [i, filter] of filters.entries()) {
      client.write(subscribePacket(i + 1, filter, 0));
      await client.expect(PACKET.suback, i + 1);
    }
    client.write(unsubscribePacket(10, 'interop/unsub/a', 'interop/unsub/+/c'));
    await client.expect(PACKET.unsuback, 10);
    await pub('interop/unsub/a', 'dropped');
    await pub('interop/unsub/x/c', 'dropped');
    await pub('interop/unsub/b/kept', 'kept');
    await pub('interop/unsub/b/kept', 'marker');
    // In order, nothing between: the unsubscribed filters got nothing.
    expect(readPublish(await client.expect(PACKET.publish)).payload).toBe('kept');
    expect(readPublish(await client.expect(PACKET.publish)).payload).toBe('marker');
    await client.close();
  });

  it('keeps $SYS read-only for clients', async () => {
    const refused = await pub('$SYS/fake', 'x').then(
      () => 'acknowledged',
      () => 'refused',
    );
    expect(refused).toBe('refused');
  });
});

describe("a site's topic rules on the broker", () => {
  let hub: TestHub;
  let port: string;
  beforeAll(async () => {
    hub = await startTestHub({
      config: {
        security: {
          topic_rules: [
            { topic: 'test/nosubscribe', subscribe: 'deny' },
            { topic: 'site/#', publish: 'deny', who: 'anonymous' },
          ],
        },
      },
    });
    port = String(hub.hub.mqttPort);
  });
  afterAll(async () => {
    await hub.dispose();
  });

  it('[MQTT-3.9.3] answers a subscription a rule refuses with the failure code 0x80, and keeps the client', async () => {
    // -W ends it after 3 s with nothing received: an error exit, with the output kept.
    const result = await mosquittoClients(port).transcript([
      ...['-t', 'test/nosubscribe', '-t', 'test/ok'],
      ...['-C', '1', '-W', '3', '-d'],
    ]);
    // mosquitto_sub's debug output shows the SUBACK's granted codes, one per filter.
    expect(result).toMatch(/Subscribed \(mid: \d+\): 128, 0/);
  });

  it('refuses a publish a rule denies, and lets the same topic through when no rule matches', async () => {
    const { pub } = mosquittoClients(port);
    const denied = await pub('site/x', 'no').then(
      () => 'acknowledged',
      () => 'refused',
    );
    expect(denied).toBe('refused');
    await pub('elsewhere/x', 'yes');
  });

  it('refuses to start with a rule for no known kind of client, or one that says neither publish nor subscribe, naming each', async () => {
    const refused = startTestHub({
      config: { security: { topic_rules: [{ topic: 'a/#', publish: 'deny', who: 'somebody' }, { topic: 'b/#' }] } },
    });
    await expect(refused).rejects.toThrow(/security\.topic_rules\.0\.who.*must be one of "anonymous"/s);
    await expect(refused).rejects.toThrow(/security\.topic_rules\.1.*says neither publish nor subscribe/s);
  });
});
