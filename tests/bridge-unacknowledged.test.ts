// A site's broker that takes the hub's connection and messages but never acknowledges them: each
// message the hub gave up waiting for stays in its MQTT session until acknowledged, so the bridge
// sends at most `out.max_unacknowledged` of them, refuses the rest at once (they wait in the hub's
// outbox or journal), says so once, and sends again once the broker acknowledges. The broker is a
// real Aedes whose publish authorisation is withheld, so no PUBACK leaves it.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes, type AuthorizePublishHandler } from 'aedes';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerUnavailable, openBridgeLink, type BridgeLink, type OutgoingMessage } from '../hub/bridges/link.ts';
import { bridgeSchema } from '../hub/config/bridges.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

interface SiteBroker {
  url: string;
  /** Publishes the broker received and has not acknowledged. */
  held: Array<() => void>;
  /** Whether publishes are held (no PUBACK) or acknowledged at once. */
  holding: boolean;
  /** Payloads published on each topic, held or not, resent ones included. */
  seen: Array<[string, string]>;
  /** Ends every client's connection, as a broker restart would. */
  drop(): void;
  close(): Promise<void>;
}

async function siteBroker(): Promise<SiteBroker> {
  const site: Omit<SiteBroker, 'url' | 'close' | 'drop'> = { held: [], holding: true, seen: [] };
  const authorizePublish: AuthorizePublishHandler = (_client, packet, callback) => {
    site.seen.push([packet.topic, packet.payload.toString()]);
    if (site.holding) site.held.push(() => callback(null));
    else callback(null);
  };
  const broker = await Aedes.createBroker({ authorizePublish });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(site, {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    drop: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close();
        broker.close(() => resolve());
      }),
  });
}

const message = (n: number): OutgoingMessage => ({
  topic: `floorwatch/alerts/server-room/t-rack/temperature_high`,
  payload: JSON.stringify({ n }),
  retain: true,
  repeat: false,
  delivery: `d-${n}`,
});

describe('a bridge to a broker that never acknowledges', () => {
  let site: SiteBroker | undefined;
  let link: BridgeLink | undefined;
  let hub: TestHub | undefined;
  afterEach(async () => {
    for (const release of site?.held ?? []) release();
    await hub?.dispose();
    hub = undefined;
    await link?.close();
    await site?.close();
    link = undefined;
    site = undefined;
  });

  function open(broker: SiteBroker, status: boolean, bound = 3) {
    const lines: Array<{ level: number; msg: string }> = [];
    const counts: number[] = [];
    link = openBridgeLink({
      // A name from outside that is also a property of every object; Aedes speaks MQTT 3.1.1.
      bridge: bridgeSchema.parse({
        name: 'constructor',
        url: broker.url,
        protocol: 4,
        out: { status, max_unacknowledged: bound },
      }),
      prefix: 'floorwatch',
      log: pino(
        { level: 'info' },
        { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
      ),
      timeoutMs: 50,
      onUnacknowledged: (count) => counts.push(count),
    });
    return { link, lines, counts };
  }

  it('sends at most out.max_unacknowledged messages, refuses the rest at once and says so once, and sends again once acknowledged', async () => {
    site = await siteBroker();
    const broker = site;
    const { link, lines, counts } = open(broker, false);
    await eventually(() => expect(link.connected).toBe(true));

    for (let n = 0; n < 3; n++)
      await expect(link.publish(message(n))).rejects.toThrow(/did not acknowledge within 0\.05 s/);
    await eventually(() => expect(broker.held).toHaveLength(3));
    expect(link.unacknowledged).toBe(3);

    for (let n = 3; n < 30; n++) {
      const refusal = link.publish(message(n));
      await expect(refusal).rejects.toBeInstanceOf(BrokerUnavailable);
      await expect(refusal).rejects.toThrow(
        `${broker.url} has not acknowledged the 3 messages sent to it before (bridges.out.max_unacknowledged)`,
      );
    }
    // The broker got none of them, and the client's session holds none of them.
    expect(broker.held).toHaveLength(3);
    expect(link.unacknowledged).toBe(3);
    expect(Math.max(...counts)).toBe(3);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings.map((l) => l.msg)).toEqual([
      `bridge constructor: ${broker.url} has not acknowledged 3 messages (bridges.out.max_unacknowledged); what it should get waits in the hub until it does`,
    ]);

    // The broker acknowledges what it holds, and takes the next message as it comes.
    broker.holding = false;
    for (const release of broker.held.splice(0)) release();
    await eventually(() => expect(link.unacknowledged).toBe(0));
    expect(counts.at(-1)).toBe(0);
    expect(lines.some((l) => l.level === 30 && l.msg.includes('acknowledges again'))).toBe(true);
    await link.publish(message(30));
    expect(link.unacknowledged).toBe(0);
  });

  it('says online once there is room, when a reconnection found the bound reached', async () => {
    site = await siteBroker();
    const broker = site;
    const { link } = open(broker, true, 1);
    const online = () =>
      broker.seen.filter(([topic, payload]) => topic.endsWith('/hub/status') && payload === 'online');
    // The birth is held: the bound of one is reached.
    await eventually(() => online().length === 1);
    broker.drop();
    // The session sends the held birth again; the new connection's own "online" finds no room.
    await eventually(() => link.connected && online().length === 2);
    expect(link.unacknowledged).toBe(1);

    broker.holding = false;
    for (const release of broker.held.splice(0)) release();
    await eventually(() => online().length === 3, { what: 'online said again once acknowledged' });
    await eventually(() => link.unacknowledged === 0);
  });

  it('closes without waiting for an acknowledgement that never comes', async () => {
    site = await siteBroker();
    const { link } = open(site, true);
    await eventually(() => expect(link.connected).toBe(true));
    // Its birth ("online") is held too, and counts.
    await eventually(() => expect(link.unacknowledged).toBe(1));
    await link.close();
    expect(link.connected).toBe(false);
  });

  it('shows the count in /metrics and the bridge degraded in health while it is at its bound', async () => {
    site = await siteBroker();
    const broker = site;
    hub = await startTestHub({
      config: { bridges: [{ name: 'constructor', url: broker.url, protocol: 4, out: { max_unacknowledged: 1 } }] },
    });
    const running = hub;
    // The hub's birth on the site's broker is held: one unacknowledged, the bound.
    await eventually(() => broker.held.length === 1);
    const gauge = async () =>
      /^floorwatch_bridge_unacknowledged\{bridge="constructor"\} (\d+)$/m.exec(
        await (await running.api('/metrics')).text(),
      )?.[1];
    await eventually(async () => (await gauge()) === '1');
    type Health = { checks: Record<string, { ok: boolean; detail: string }> };
    const check = async () => (await running.json<Health>('/api/v1/health')).checks['bridge constructor'];
    expect(await check()).toEqual({
      ok: false,
      detail: `connected to ${broker.url}, which has not acknowledged 1 message; what it should get waits in the hub`,
    });

    broker.holding = false;
    for (const release of broker.held.splice(0)) release();
    await eventually(async () => (await gauge()) === '0');
    expect(await check()).toEqual({ ok: true, detail: `connected to ${broker.url}` });
  });
});
