// Admission control as pure logic on a hand-driven clock: what is left out while overloaded, who
// is paused while the read budget is spent, how flooders' reads wait for turns of the event loop
// and when a flooder is disconnected. The mechanism in a real hub is in admission-hub.test.ts.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Admission } from '../hub/broker/admission.ts';
import { publishPacket } from './support/mqtt.ts';

describe('admission decisions', () => {
  const admission = (overrides: { rulesBehind?: () => number; onFlooding?: (stream: unknown) => void } = {}) => {
    let now = 0;
    const a = new Admission({
      maxPendingBytes: 1000,
      maxDelayMs: 100,
      maxRulesBehindMs: 500,
      rulesBehindMs: overrides.rulesBehind ?? (() => 0),
      now: () => now,
      recheckMs: 1,
      floodGraceMs: 1000,
      ...(overrides.onFlooding && { onFlooding: overrides.onFlooding }),
    });
    return { a, advance: (ms: number) => (now += ms) };
  };

  /** The next turn of the event loop, in which a turn's reading budget (5 ms) starts afresh. */
  const nextTurn = () => new Promise(setImmediate);
  const connection = (publishes: boolean) => ({
    publishes: () => publishes,
    maxPacketBytes: 65_536,
    tooLarge: () => undefined,
  });
  /** A stream carrying `count` PUBLISH packets at this QoS. */
  const publishes = (count: number, qos: 0 | 1, from = 0) =>
    Buffer.concat(
      Array.from({ length: count }, (_, i) =>
        publishPacket({
          topic: 'floorwatch/devices/d/telemetry',
          payload: `{"co2":${from + i}}`,
          qos,
          id: from + i + 1,
        }),
      ),
    );
  const readAll = (stream: PassThrough): Buffer => {
    const parts: Buffer[] = [];
    for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null)
      parts.push(chunk);
    return Buffer.concat(parts);
  };
  const overload = (a: Admission, advance: (ms: number) => void) => {
    // Ten messages that each waited 400 ms: the moving delay passes 100 ms.
    for (let i = 0; i < 10; i++) {
      const m = a.begin(10);
      advance(400);
      a.done(m);
    }
  };

  it('while overloaded, leaves out the QoS 0 publishes of a client past its share, and keeps its QoS 1 ones', () => {
    const { a, advance } = admission();
    overload(a, advance);
    expect(a.status()).toMatchObject({ overloaded: true, sharePerSecond: 20 });
    const flood = new PassThrough();
    a.gate(flood, connection(false));
    flood.write(publishes(100, 0));
    // A share of 5 a quarter second (20 a second, what a sensor needs at least): the rest is left out.
    expect(readAll(flood)).toEqual(publishes(5, 0));
    expect(a.status().shed).toBe(95);
    // Past its share, it is not read again in this window: the next bytes wait in the kernel.
    flood.write(publishes(3, 1, 200));
    expect(readAll(flood)).toEqual(Buffer.alloc(0));
    advance(250);
    a.status();
    expect(readAll(flood)).toEqual(publishes(3, 1, 200));
  });

  it('starts the share as soon as an overload begins, not at the end of the quarter second', () => {
    const { a, advance } = admission();
    const flood = new PassThrough();
    a.gate(flood, connection(false));
    // While the hub keeps up, a client's 40 messages are read in full and go on to the journal...
    flood.write(publishes(40, 0));
    expect(readAll(flood)).toEqual(publishes(40, 0));
    for (let i = 0; i < 40; i++) a.begin(10);
    // ...where they still wait 120 ms later, past the 100 ms limit, 130 ms before the window ends.
    advance(120);
    flood.write(publishes(40, 0, 40));
    // The share starts there and then: half of what the client got in, the rest left out.
    expect(readAll(flood)).toEqual(publishes(20, 0, 40));
    expect(a.status()).toMatchObject({ overloaded: true, sharePerSecond: 80, shed: 20 });
  });

  it('leaves nothing out while the hub keeps up, and once no client sends past its share', async () => {
    const { a, advance } = admission();
    const stream = new PassThrough();
    a.gate(stream, connection(false));
    stream.write(publishes(100, 0));
    expect(readAll(stream)).toEqual(publishes(100, 0));
    overload(a, advance);
    stream.write(publishes(10, 0));
    expect(readAll(stream)).toEqual(publishes(5, 0));
    // The hub keeps up again: the share grows back by a quarter while the client still sends past it...
    for (let i = 0; i < 30; i++) a.done(a.begin(10));
    expect(a.status().overloaded).toBe(false);
    advance(250);
    await nextTurn();
    stream.write(publishes(10, 0, 20));
    expect(readAll(stream)).toEqual(publishes(7, 0, 20));
    advance(250);
    await nextTurn();
    stream.write(publishes(3, 0, 40));
    expect(readAll(stream)).toEqual(publishes(3, 0, 40));
    // ...and is gone after a quarter second in which nobody did.
    advance(250);
    await nextTurn();
    stream.write(publishes(50, 0, 100));
    expect(readAll(stream)).toEqual(publishes(50, 0, 100));
    expect(a.status().sharePerSecond).toBeUndefined();
  });

  it('disconnects a client that sends past its share in every window for the grace period, and only it', async () => {
    const flooding: unknown[] = [];
    const { a, advance } = admission({ onFlooding: (stream) => flooding.push(stream) });
    overload(a, advance);
    const flood = new PassThrough();
    const sensor = new PassThrough();
    a.gate(flood, connection(false));
    a.gate(sensor, connection(false));
    // Past its share in four windows in a row (1 s, the grace): still connected; in the fifth it is closed.
    for (let window = 0; window < 4; window++) {
      flood.write(publishes(20, 0, window * 20));
      sensor.write(publishes(2, 0, window * 2));
      readAll(flood);
      expect(readAll(sensor)).toEqual(publishes(2, 0, window * 2));
      expect(flood.destroyed).toBe(false);
      advance(250);
      await nextTurn();
    }
    flood.write(publishes(20, 0, 100));
    readAll(flood);
    expect(flood.destroyed).toBe(true);
    expect(flooding).toEqual([flood]);
    expect(sensor.destroyed).toBe(false);
  });

  it('is no longer overloaded once a quarter second passes with nothing coming in', () => {
    const { a, advance } = admission();
    overload(a, advance);
    expect(a.status().overloaded).toBe(true);
    advance(250);
    a.status();
    advance(250);
    expect(a.status()).toMatchObject({ overloaded: false, delayMs: 0 });
  });

  it('counts the rules falling behind as overload: alerts come first', () => {
    let behind = 0;
    const { a } = admission({ rulesBehind: () => behind });
    expect(a.status().overloaded).toBe(false);
    behind = 600;
    expect(a.status().overloaded).toBe(true);
  });

  it("stops reading a publisher's stream while the budget is spent, and reads it again once it drains", async () => {
    const { a } = admission();
    const stream = new PassThrough();
    a.gate(stream, connection(true));
    // Six messages in a quarter second: more than a sensor's share.
    stream.write(publishes(6, 1));
    expect(readAll(stream)).toEqual(publishes(6, 1));
    stream.write(publishes(1, 1, 6));
    const pending = a.begin(1000);
    expect(stream.read()).toBeNull();
    expect(a.status().pausedClients).toBe(1);
    // A subscriber (it has not published) is read whatever the budget.
    const subscriber = new PassThrough();
    subscriber.write(publishes(1, 1, 7));
    a.gate(subscriber, connection(false));
    expect(readAll(subscriber)).toEqual(publishes(1, 1, 7));
    const readable = new Promise<void>((resolve) => stream.once('readable', () => resolve()));
    a.done(pending);
    await readable;
    expect(readAll(stream)).toEqual(publishes(1, 1, 6));
    expect(a.status().pausedClients).toBe(0);
  });

  it("reads a device within a sensor's share while the budget is spent, so its reading is not queued behind a flood", () => {
    const { a, advance } = admission();
    const device = new PassThrough();
    a.gate(device, connection(true));
    const flooder = new PassThrough();
    a.gate(flooder, connection(true));
    flooder.write(publishes(50, 1));
    expect(readAll(flooder)).toEqual(publishes(50, 1));
    // Over the budget, not yet twice it.
    const spent = a.begin(0);
    flooder.write(publishes(1, 1, 50));
    expect(flooder.read()).toBeNull();
    // Four readings a quarter second, window after window: read every time.
    for (let window = 0; window < 3; window++) {
      device.write(publishes(4, 1, 100 + 4 * window));
      expect(readAll(device)).toEqual(publishes(4, 1, 100 + 4 * window));
      advance(250);
    }
    // Past the share it waits like any other, and in the window after too.
    device.write(publishes(6, 1, 200));
    expect(readAll(device)).toEqual(publishes(6, 1, 200));
    device.write(publishes(1, 1, 206));
    expect(device.read()).toBeNull();
    advance(250);
    expect(device.read()).toBeNull();
    expect(a.status().pausedClients).toBe(2);
    // Few messages but large ones are no sensor's readings either.
    const large = new PassThrough();
    a.gate(large, connection(true));
    const big = (n: number) =>
      publishPacket({
        topic: 'floorwatch/devices/l/telemetry',
        payload: `{"note":"${'x'.repeat(9000)}"}`,
        qos: 1,
        id: n,
      });
    large.write(Buffer.concat([big(1), big(2)]));
    expect(readAll(large)).toEqual(Buffer.concat([big(1), big(2)]));
    large.write(big(3));
    expect(large.read()).toBeNull();
    expect(a.status().pausedClients).toBe(3);
    // At twice the budget even a sensor waits: many of them cannot pile up past it.
    const twice = a.begin(1000);
    const sensor = new PassThrough();
    a.gate(sensor, connection(true));
    sensor.write(publishes(1, 1, 300));
    expect(sensor.read()).toBeNull();
    expect(a.status().pausedClients).toBe(4);
    a.done(twice);
    a.done(spent);
  });

  /** Past a sensor's share: six messages read in this quarter second, and one more waiting. */
  const heavyPublishers = (a: Admission, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const stream = new PassThrough();
      a.gate(stream, connection(true));
      stream.write(publishes(6, 1, 10 * i));
      expect(readAll(stream)).toEqual(publishes(6, 1, 10 * i));
      return stream;
    });

  it('reads a flooding client only in a turn of the event loop that has read for less than 5 ms; other clients at once', async () => {
    // The rules 600 ms behind: overloaded all along, shares stay at a sensor's.
    const { a, advance } = admission({ rulesBehind: () => 600 });
    advance(250);
    a.status();
    const [first, second] = [0, 1].map(() => {
      const flood = new PassThrough();
      a.gate(flood, connection(true));
      flood.write(publishes(20, 0));
      expect(readAll(flood)).toEqual(publishes(5, 0));
      return flood;
    });
    const [device] = heavyPublishers(a, 1);
    // The next window lets the flooders go, and their turns go by with nobody reading.
    advance(250);
    a.status();
    await nextTurn();
    await nextTurn();
    first!.write(publishes(20, 0, 100));
    second!.write(publishes(20, 0, 200));
    expect(readAll(first!)).toEqual(publishes(5, 0, 100));
    // That read took 5 ms: the second flooder waits for the next turn; a QoS 1 device past a sensor's share does not.
    advance(5);
    expect(second!.read()).toBeNull();
    device!.write(publishes(1, 1, 300));
    expect(readAll(device!)).toEqual(publishes(1, 1, 300));
    await nextTurn();
    expect(readAll(second!)).toEqual(publishes(5, 0, 200));
    a.close();
  });

  it('is overloaded while a flooding client has waited for its turn to be read longer than the ingest delay', () => {
    const { a, advance } = admission();
    overload(a, advance);
    const flood = new PassThrough();
    a.gate(flood, connection(false));
    flood.write(publishes(20, 0));
    expect(readAll(flood)).toEqual(publishes(5, 0));
    // The hub keeps up again; in the next window the flooder waits for its turn to be read.
    for (let i = 0; i < 30; i++) a.done(a.begin(10));
    advance(250);
    expect(a.status()).toMatchObject({ overloaded: false, readWaitMs: 0 });
    advance(150);
    expect(a.status()).toMatchObject({ overloaded: true, readWaitMs: 150 });
    a.close();
  });

  it('counts a flood across windows in which the hub did not read the client, and forgets it once nothing more waits', async () => {
    const flooding: unknown[] = [];
    // The rules 600 ms behind: overloaded all along, shares stay at a sensor's.
    const { a, advance } = admission({ rulesBehind: () => 600, onFlooding: (stream) => flooding.push(stream) });
    advance(250);
    expect(a.status().sharePerSecond).toBe(20);
    const flood = new PassThrough();
    const calm = new PassThrough();
    a.gate(flood, connection(false));
    a.gate(calm, connection(false));
    for (const stream of [flood, calm]) {
      stream.write(publishes(20, 0));
      expect(readAll(stream)).toEqual(publishes(5, 0));
    }
    // Three windows in which neither is read (their turn did not come), then past the share again.
    for (let window = 0; window < 3; window++) {
      advance(250);
      a.status();
    }
    await nextTurn();
    flood.write(publishes(20, 0, 100));
    expect(readAll(flood)).toEqual(publishes(5, 0, 100));
    // The calm one sends within its share, and everything it sent is read: its flood is over.
    calm.write(publishes(2, 0, 100));
    expect(readAll(calm)).toEqual(publishes(2, 0, 100));
    advance(250);
    await nextTurn();
    // A second after each first went past its share: the flood is disconnected, the calm one starts afresh.
    for (const stream of [flood, calm]) {
      stream.write(publishes(20, 0, 200));
      readAll(stream);
    }
    expect(flooding).toEqual([flood]);
    expect(flood.destroyed).toBe(true);
    expect(calm.destroyed).toBe(false);
    a.close();
  });

  it('stops reading while the rules are twice their limit behind', () => {
    let behind = 0;
    const { a } = admission({ rulesBehind: () => behind });
    const stream = new PassThrough();
    a.gate(stream, connection(true));
    stream.write(publishes(6, 1));
    expect(readAll(stream)).toEqual(publishes(6, 1));
    behind = 1200;
    stream.write(publishes(1, 1, 6));
    expect(stream.read()).toBeNull();
    behind = 0;
    a.close();
    expect(readAll(stream)).toEqual(publishes(1, 1, 6));
  });
});
