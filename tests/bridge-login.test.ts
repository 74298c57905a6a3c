// A bridge logs in to a site's broker that takes only known users (Mosquitto with a password
// file): with its user name and password it connects and delivers; with a wrong password it says
// so in health and the log. Over TLS it trusts the site's own CA when given it, and nothing else. A message the broker refuses for good (its ACL) is set aside and does
// not hold back the ones after it.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLog, eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';
import { join } from 'node:path';
import { tempDir } from './support/hub.ts';
import { makeTestCa } from './support/tls.ts';

interface BridgeCheck {
  ok: boolean;
  detail: string;
}

const check = async (hub: TestHub) =>
  (await hub.json<{ checks: Record<string, BridgeCheck> }>('/api/v1/health')).checks['bridge site']!;

describe('a bridge to a broker that needs a password', () => {
  let broker: MosquittoHandle;
  const hubs: TestHub[] = [];
  beforeAll(async () => {
    broker = await startMosquitto({ users: { floorwatch: 'right-password', watcher: 'watcher-password' } });
  });
  afterAll(async () => {
    for (const hub of hubs) await hub.dispose();
    await broker.dispose();
  });

  it('logs in with its credentials and delivers; with a wrong password, says why in health and the log', async () => {
    const watcher = await mqtt.connectAsync(broker.url, {
      clientId: 'w',
      username: 'watcher',
      password: 'watcher-password',
    });
    const statuses: string[] = [];
    watcher.on('message', (topic, payload) => statuses.push(`${topic} ${payload.toString()}`));
    await watcher.subscribeAsync('floorwatch/hub/status', { qos: 1 });

    const good = await startTestHub({
      config: { bridges: [{ name: 'site', url: broker.url, username: 'floorwatch', password: 'right-password' }] },
    });
    hubs.push(good);
    await eventually(async () => (await check(good)).ok, { what: 'the bridge to log in' });
    await eventually(() => statuses.includes('floorwatch/hub/status online'), {
      what: "the hub's status on the site's broker",
    });

    const { log, lines } = capturedLog('warn');
    const bad = await startTestHub({
      log,
      config: { bridges: [{ name: 'site', url: broker.url, username: 'floorwatch', password: 'wrong-password' }] },
    });
    hubs.push(bad);
    await eventually(() => lines.some((l) => /bridge site: .*(Not authorized|Bad User Name or Password)/i.test(l)), {
      what: 'the refusal in the log',
    });
    expect(await check(bad)).toMatchObject({ ok: false, detail: expect.stringContaining('not connected') as unknown });
    await watcher.endAsync();
  });
});

describe('a bridge to a broker that refuses some of its messages for good', () => {
  let broker: MosquittoHandle;
  let hub: TestHub | undefined;
  beforeAll(async () => {
    broker = await startMosquitto({
      users: { floorwatch: 'right-password', watcher: 'watcher-password' },
      // The site lets the hub publish its status and the alerts of one zone only.
      acl: [
        'user floorwatch',
        'topic write floorwatch/hub/#',
        'topic write floorwatch/alerts/floor-a/#',
        'user watcher',
        'topic read floorwatch/#',
        '',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await hub?.dispose();
    await broker.dispose();
  });

  it('sets a refused alert aside after a few attempts, and the alerts after it still go out', async () => {
    const watcher = await mqtt.connectAsync(broker.url, {
      clientId: 'w2',
      username: 'watcher',
      password: 'watcher-password',
    });
    const seen: string[] = [];
    watcher.on('message', (topic) => seen.push(topic));
    await watcher.subscribeAsync('floorwatch/alerts/#', { qos: 1 });
    hub = await startTestHub({
      config: {
        zones: [
          { id: 'closed-room', type: 'call_floor' },
          { id: 'floor-a', type: 'call_floor' },
        ],
        devices: [
          { id: 'n-1', kind: 'sensor', zone: 'closed-room' },
          { id: 'n-2', kind: 'sensor', zone: 'floor-a' },
        ],
        notify: { retry_first: '100ms', retry_max: '200ms' },
        bridges: [
          { name: 'site', url: broker.url, username: 'floorwatch', password: 'right-password', out: { status: false } },
        ],
      },
    });
    await eventually(async () => (await check(hub!)).ok, { what: 'the bridge to log in' });
    for (const device of ['n-1', 'n-2']) {
      const c = await mqtt.connectAsync(hub.mqttUrl, { clientId: device });
      await c.publishAsync(`floorwatch/devices/${device}/telemetry`, JSON.stringify({ noise_peak: 140 }), { qos: 1 });
      await c.endAsync();
    }
    await eventually(() => seen.some((t) => t.startsWith('floorwatch/alerts/floor-a/')), {
      what: 'the floor-a alert past the refused one',
    });
    expect(seen.some((t) => t.startsWith('floorwatch/alerts/closed-room/'))).toBe(false);
    const { rejections } = await hub.json<{
      rejections: Array<{ stage: string; target?: string; reason?: string; detail?: string }>;
    }>('/api/v1/rejections?stage=notify');
    expect(JSON.stringify(rejections)).toContain('bridge site');
    await watcher.endAsync();
  });
});

describe('a bridge to a broker over TLS', () => {
  let broker: MosquittoHandle;
  let certs: string;
  const hubs: TestHub[] = [];
  beforeAll(async () => {
    certs = tempDir('floorwatch-ca-');
    await makeTestCa(certs);
    broker = await startMosquitto({ tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') } });
  });
  afterAll(async () => {
    for (const hub of hubs) await hub.dispose();
    await broker.dispose();
  });

  it("connects with the site's CA and delivers; without it, refuses the broker's certificate and says so", async () => {
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'w3' });
    const statuses: string[] = [];
    watcher.on('message', (topic, payload) => statuses.push(`${topic} ${payload.toString()}`));
    await watcher.subscribeAsync('floorwatch/hub/status', { qos: 1 });
    const tlsUrl = broker.tlsUrl ?? '';
    expect(tlsUrl).toMatch(/^mqtts:/);

    const trusting = await startTestHub({
      config: { bridges: [{ name: 'site', url: tlsUrl, ca: join(certs, 'ca.crt') }] },
    });
    hubs.push(trusting);
    await eventually(async () => (await check(trusting)).ok, { what: 'the bridge to connect over TLS' });
    await eventually(() => statuses.includes('floorwatch/hub/status online'), {
      what: "the hub's status, sent over TLS",
    });

    const { log, lines } = capturedLog('warn');
    const wary = await startTestHub({ log, config: { bridges: [{ name: 'site', url: tlsUrl }] } });
    hubs.push(wary);
    await eventually(() => lines.some((l) => /bridge site: .*certificate/i.test(l)), {
      what: 'the refused certificate in the log',
    });
    expect(await check(wary)).toMatchObject({ ok: false });
    await watcher.endAsync();
  });
});
