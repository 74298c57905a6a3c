// Wrong-password floods must not slow the floor down. Every password check runs scrypt on the
// thread pool the journal's fsync shares; the hub locks out an address after
// security.login_failures.max wrong passwords (before any scrypt runs), checks at most a few
// passwords at once and turns the rest away with CONNACK 3, and lets a device that reconnects with
// the password it last proved in without scrypt. Attackers connect from other loopback addresses
// (127.0.0.2 and up) with raw MQTT packets.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { capturedLog, startTestHub, type TestHub } from './support/hub.ts';
import { connectPacket, RawMqtt } from './support/mqtt.ts';

async function counter(hub: TestHub, pattern: RegExp): Promise<number> {
  const text = await (await hub.api('/metrics')).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}
const scryptRuns = (hub: TestHub) => counter(hub, /floorwatch_mqtt_password_checks_total\{how="scrypt"\} (\d+)/);
const rememberedChecks = (hub: TestHub) =>
  counter(hub, /floorwatch_mqtt_password_checks_total\{how="remembered"\} (\d+)/);

/** One login attempt with raw packets; the CONNACK return code. */
async function attempt(hub: TestHub, from: string, device: string, password: string): Promise<number | undefined> {
  const { client, returnCode } = await RawMqtt.connect(
    hub.hub.mqttPort ?? 0,
    { clientId: device, username: device, password },
    from,
  );
  await client.close();
  return returnCode;
}

describe('wrong passwords', () => {
  let hub: TestHub;
  let clock = Date.UTC(2025, 5, 1, 12);
  const logged = capturedLog('warn');
  const passwords: Record<string, string> = {};

  beforeAll(async () => {
    // The clock moves only when the test moves it, so the five minutes pass on purpose.
    hub = await startTestHub({ now: () => clock, log: logged.log });
    const credentials = new DeviceCredentials(hub.dataDir);
    for (const id of ['dev-a', 'dev-b', 'dev-c', 'dev-d', 'dev-e'])
      passwords[id] = await credentials.add(id, undefined, clock);
  });
  afterAll(async () => hub?.dispose());

  it('locks an address out after 5 wrong passwords: the 6th attempt gets CONNACK 5 without running scrypt, other addresses are served', async () => {
    const before = await scryptRuns(hub);
    for (let i = 0; i < 5; i++) expect(await attempt(hub, '127.0.0.2', 'dev-b', `guess-${i}`)).toBe(4);
    expect((await scryptRuns(hub)) - before).toBe(5);
    expect(await attempt(hub, '127.0.0.2', 'dev-b', 'guess-6')).toBe(5);
    // Locked out means locked out: the right password from there is refused too, unchecked.
    expect(await attempt(hub, '127.0.0.2', 'dev-b', passwords['dev-b'] ?? '')).toBe(5);
    expect((await scryptRuns(hub)) - before).toBe(5);
    expect(await counter(hub, /floorwatch_mqtt_refused_total\{reason="locked_out"\} (\d+)/)).toBe(2);
    expect(await counter(hub, /floorwatch_mqtt_login_lockouts_total (\d+)/)).toBe(1);
    expect(
      logged.lines.filter((line) => line.startsWith('5 wrong MQTT passwords from 127.0.0.2 within 300 s')),
    ).toHaveLength(1);
    expect(logged.lines.filter((line) => line.startsWith('MQTT logins from 127.0.0.2 are refused until'))).toHaveLength(
      1,
    );

    expect(await attempt(hub, '127.0.0.1', 'dev-b', passwords['dev-b'] ?? '')).toBe(0);

    clock += 5 * 60_000;
    expect(await attempt(hub, '127.0.0.2', 'dev-b', passwords['dev-b'] ?? '')).toBe(0);
  });

  it('lets a device that reconnects with the password it last proved in without scrypt, and forgets that proof when the password is rotated', async () => {
    const device = () =>
      mqtt.connectAsync(hub.mqttUrl, {
        clientId: 'dev-a',
        username: 'dev-a',
        password: passwords['dev-a'],
        reconnectPeriod: 0,
      });
    const scrypt = await scryptRuns(hub);
    const remembered = await rememberedChecks(hub);
    await (await device()).endAsync();
    await (await device()).endAsync();
    await (await device()).endAsync();
    expect((await scryptRuns(hub)) - scrypt).toBe(1);
    expect((await rememberedChecks(hub)) - remembered).toBe(2);
    // A wrong password for a device whose proof is remembered is refused without scrypt as well.
    expect(await attempt(hub, '127.0.0.3', 'dev-a', 'not-it')).toBe(4);
    expect((await scryptRuns(hub)) - scrypt).toBe(1);

    const rotated = await new DeviceCredentials(hub.dataDir).rotate('dev-a', clock);
    expect(await attempt(hub, '127.0.0.3', 'dev-a', passwords['dev-a'] ?? '')).toBe(4);
    expect(await attempt(hub, '127.0.0.3', 'dev-a', rotated)).toBe(0);
    expect((await scryptRuns(hub)) - scrypt).toBe(3);
  });

  it("keeps a device's PUBACKs prompt while 100 addresses flood wrong passwords, and turns the excess away with CONNACK 3", async () => {
    const device = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'dev-c',
      username: 'dev-c',
      password: passwords['dev-c'],
      reconnectPeriod: 0,
    });
    const scrypt = await scryptRuns(hub);
    let flooding = true;
    const answers: Array<number | undefined> = [];
    const waiting = new Set<RawMqtt>();
    // 100 sources, 127.0.1.1 to 127.0.1.100, each trying up to 8 wrong passwords as fast as it is
    // answered, for a device that has not logged in yet, so each guess needs scrypt.
    const attackers = Array.from({ length: 100 }, async (_, i) => {
      for (let n = 0; n < 8 && flooding; n++) {
        const client = await RawMqtt.open(hub.hub.mqttPort ?? 0, `127.0.1.${i + 1}`);
        waiting.add(client);
        client.write(connectPacket({ clientId: 'dev-d', username: 'dev-d', password: `guess-${i}-${n}` }));
        const connack = await client.next();
        answers.push(connack?.body[1]);
        waiting.delete(client);
        await client.close();
      }
    });
    const latencies: number[] = [];
    // Once the flood is under way, the device sends 40 readings one after another.
    while (answers.length === 0) await new Promise((resolve) => setImmediate(resolve));
    for (let seq = 0; seq < 40; seq++) {
      const started = performance.now();
      await device.publishAsync('floorwatch/devices/dev-c/telemetry', JSON.stringify({ seq, temperature: 21 }), {
        qos: 1,
      });
      latencies.push(performance.now() - started);
    }
    flooding = false;
    // Logins still waiting for a check are dropped rather than waited for.
    for (const client of waiting) client.socket.destroy();
    await Promise.all(attackers);
    await device.endAsync();
    // A login checked after those dropped ones (the checks are first come, first served; while
    // they still fill the queue it is told to come back, CONNACK 3) finds that no scrypt ran for
    // the 60-odd that were waiting: only for the guesses answered, a few whose answer was running
    // or on its way when the attackers left, and this one.
    const late = mqtt.connect(hub.mqttUrl, {
      clientId: 'dev-e',
      username: 'dev-e',
      password: passwords['dev-e'],
      reconnectPeriod: 100,
      reconnectOnConnackError: true,
    });
    late.on('error', () => undefined);
    await new Promise((resolve) => late.once('connect', resolve));
    await late.endAsync();
    const answered = answers.filter((code) => code === 4).length;
    expect((await scryptRuns(hub)) - scrypt).toBeLessThanOrEqual(answered + 10);
    // Unbounded, the flood queues hundreds of scrypt runs ahead of the journal's fsync: seconds per
    // PUBACK, each of them. The median, not the worst: one stall of a loaded machine is not that.
    expect(latencies.sort((x, y) => x - y)[latencies.length / 2]).toBeLessThan(750);
    expect(answers).toContain(3);
    // undefined: a login dropped above.
    expect(answers.every((code) => code === undefined || code === 3 || code === 4 || code === 5)).toBe(true);
  });
});

describe('the record of wrong passwords', () => {
  let hub: TestHub;
  const logged = capturedLog('warn');

  beforeAll(async () => {
    hub = await startTestHub({ log: logged.log, config: { security: { login_failures: { tracked_addresses: 100 } } } });
  });
  afterAll(async () => hub?.dispose());

  it('keeps at most security.login_failures.tracked_addresses addresses, forgetting the one quiet the longest, and says so', async () => {
    // A user name that is no device costs no scrypt, so 101 addresses fail quickly.
    for (let i = 1; i <= 101; i++) expect(await attempt(hub, `127.0.2.${i}`, 'nobody', 'guess')).toBe(4);
    expect(await counter(hub, /floorwatch_mqtt_login_failure_sources_forgotten_total (\d+)/)).toBe(1);
    expect(logged.lines).toContain(
      'wrong passwords are being counted for 100 addresses, the most kept (security.login_failures.tracked_addresses): the one quiet the longest was forgotten',
    );
  });
});
