// A bridge logs in to a site's broker that takes only known users (Mosquitto with a password
// file): with its user name and password it connects and delivers; with a wrong password it says
// so in health and the log, and delivers nothing.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLog, eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';

interface BridgeCheck {
  ok: boolean;
  detail: string;
}

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

  const check = async (hub: TestHub) =>
    (await hub.json<{ checks: Record<string, BridgeCheck> }>('/api/v1/health')).checks['bridge site']!;

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
