// Generated input at the MQTT connection layer, against a real hub: CONNECT packets with hostile
// client ids, user names, passwords and keepalives from many source addresses, and QoS 2 flows
// with re-sends, PUBRELs out of order and copies in one write. The hub must answer every CONNECT
// with a return code MQTT 3.1.1 defines (0-5), journal each QoS 2 message once, never crash nor
// touch Object.prototype, and keep serving a device that is connected all along.
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { PACKET, publishPacket, pubrelPacket, RawMqtt, type ConnectFields } from './support/mqtt.ts';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

describe('the MQTT connection layer under generated input', () => {
  let hub: TestHub;
  let port: number;
  let device: MqttClient;
  let deviceClosed = 0;
  let seq = 0;
  const secrets: Record<string, string> = {};

  /** The device connected since the start still gets its PUBACK. */
  async function deviceServed(): Promise<void> {
    const acked = device.publishAsync(
      'floorwatch/devices/dev-ok/telemetry',
      JSON.stringify({ seq: seq++, temperature: 21 }),
      { qos: 1 },
    );
    const late = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no PUBACK for the connected device within 5 s')), 5000).unref(),
    );
    await Promise.race([acked, late]);
    expect(deviceClosed).toBe(0);
  }

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    hub = await startTestHub({ config: { devices: [{ id: 'decl-1', kind: 'sensor' }] } });
    port = hub.hub.mqttPort ?? 0;
    const credentials = new DeviceCredentials(hub.dataDir);
    for (const id of ['dev-ok', 'dev-fz', 'dev-q']) secrets[id] = await credentials.add(id, undefined, Date.now());
    secrets.bridge = new ApiTokens(hub.dataDir).create('bridge', 'operator', Date.now());
    device = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'dev-ok',
      username: 'dev-ok',
      password: secrets['dev-ok'],
      reconnectPeriod: 0,
    });
    device.on('close', () => deviceClosed++);
  });
  afterAll(async () => {
    await device?.endAsync();
    await hub?.dispose();
    process.off('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    expect(unhandled).toEqual([]);
    expect(Object.keys(Object.prototype)).toEqual([]);
  });

  it('answers 300 generated CONNECTs with a return code from 0 to 5, and the connected device is served throughout', async () => {
    const named = fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      '',
      'dev-ok',
      'dev-fz',
      'decl-1',
      'bridge',
      'bridge-1',
      'bridge-__proto__',
      '$SYS',
      '+',
      '#',
      'x'.repeat(65),
      'é'.repeat(40),
      '\u0000',
      '\uffff',
    );
    const text = fc.oneof(
      named,
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    // Passwords that work for someone (never dev-ok's own: that would rightly replace the watched connection).
    const password = fc.oneof(
      fc.constantFrom(secrets['dev-fz'] ?? '', secrets.bridge ?? '', 'wrong', ''),
      fc.string({ maxLength: 60 }),
    );
    const connect = fc.record({
      clientId: text,
      login: fc.option(fc.record({ username: text, password: fc.option(password, { nil: undefined }) }), {
        nil: undefined,
      }),
      keepalive: fc.oneof(fc.constantFrom(0, 1, 60, 900, 901, 65535), fc.integer({ min: 0, max: 65535 })),
      clean: fc.boolean(),
      from: fc.integer({ min: 1, max: 250 }),
    });
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(connect, async ({ clientId, login, keepalive, clean, from }) => {
        // dev-ok's id with a working credential is dev-ok itself; nothing generated has its password.
        const fields: ConnectFields = {
          clientId,
          keepalive,
          clean,
          ...(login && { username: login.username }),
          ...(login?.password !== undefined && { password: login.password }),
        };
        const { client, returnCode } = await RawMqtt.connect(port, fields, `127.0.3.${from}`);
        await client.close();
        expect(returnCode === undefined ? 'closed without CONNACK' : returnCode).toBeOneOf([0, 1, 2, 3, 4, 5]);
        if (++cases % 50 === 0) await deviceServed();
      }),
      { numRuns: 300 },
    );
    await deviceServed();
  });

  it('journals each QoS 2 message once across 100 generated flows of re-sends, PUBRELs and copies in one write', async () => {
    const accepted = async () => (await hub.hub.metrics.readingsAccepted.get()).values[0]?.value ?? 0;
    const id = fc.integer({ min: 1, max: 4 });
    const step = fc.oneof(
      // PUBLISH packets written together: copies of one message among them are handled at once.
      fc.record({ publishes: fc.array(fc.record({ id, dup: fc.boolean() }), { minLength: 1, maxLength: 4 }) }),
      fc.record({ pubrel: id }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        const before = await accepted();
        const { client, returnCode } = await RawMqtt.connect(port, {
          clientId: 'dev-q',
          username: 'dev-q',
          password: secrets['dev-q'] ?? '',
        });
        expect(returnCode).toBe(0);
        // What Aedes holds for its PUBREL; a message is new, and journaled, only when its id is not held.
        const held = new Set<number>();
        let expected = 0;
        for (const s of steps) {
          if ('pubrel' in s) {
            client.write(pubrelPacket(s.pubrel));
            await client.expect(PACKET.pubcomp, s.pubrel);
            held.delete(s.pubrel);
            continue;
          }
          client.write(
            Buffer.concat(
              s.publishes.map((p) =>
                publishPacket({
                  topic: 'floorwatch/devices/dev-q/telemetry',
                  payload: JSON.stringify({ temperature: 15 + p.id }),
                  qos: 2,
                  id: p.id,
                  dup: p.dup,
                }),
              ),
            ),
          );
          for (const p of s.publishes) {
            if (!held.has(p.id)) expected++;
            held.add(p.id);
          }
          const answered: number[] = [];
          for (let i = 0; i < s.publishes.length; i++)
            answered.push((await client.expect(PACKET.pubrec)).body.readUInt16BE(0));
          expect(answered.sort()).toEqual(s.publishes.map((p) => p.id).sort());
        }
        await client.close();
        expect((await accepted()) - before).toBe(expected);
      }),
      { numRuns: 100 },
    );
    await deviceServed();
  });
});
