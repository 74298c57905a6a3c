// Revoking or replacing a credential closes what it opened, not only the next login: the MQTT
// connection of a device whose password was revoked or rotated, and the live feed and MQTT login
// of a revoked token. Likewise what an open hub let in anonymously is closed once it needs a
// password (MQTT) or a token (live feed). A real hub process, the real command line in its own
// process, mqtt.js and fetch; every other connection stays up.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, spawnHub, tempDir, testEnv, type HubProcess } from './support/hub.ts';

const run = promisify(execFile);

/** A live feed read as a browser reads it: what arrived so far, and a promise of its end. */
interface Feed {
  text(): string;
  ended: Promise<void>;
  cancel(): Promise<void>;
}

/** Resolves when the broker has closed the client's connection. */
const closing = (client: MqttClient) => new Promise<void>((resolve) => client.once('close', () => resolve()));

const passwordIn = (text: string) => /password: +(\S+)/.exec(text)?.[1] ?? '';
const tokenIn = (text: string) => /^(fwt_\S+)$/m.exec(text)?.[1] ?? '';

async function openFeed(url: string, init: RequestInit = {}): Promise<Feed> {
  const response = await fetch(url, init);
  expect(response.status).toBe(200);
  const body = response.body;
  if (!body) throw new Error('the live feed has no body');
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const ended = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += value;
    }
  })();
  return { text: () => text, ended, cancel: () => reader.cancel() };
}

/** A hub process of its own in a fresh data dir, with the command line, clients and feeds pointed at it; stop() closes them all. */
class Site {
  readonly dataDir = tempDir();
  private spawned: HubProcess | undefined;
  /** An admin token, once the tests created one: from then on the API needs it. */
  admin = '';
  private readonly clients: MqttClient[] = [];
  private readonly feeds: Feed[] = [];

  get hub(): HubProcess {
    if (!this.spawned) throw new Error('the site has not been started');
    return this.spawned;
  }

  readonly start = async () => {
    this.spawned = await spawnHub(this.dataDir, { logLevel: 'info' });
  };

  readonly stop = async () => {
    for (const client of this.clients) client.end(true);
    await Promise.all(this.feeds.map((f) => f.cancel()));
    if (this.spawned) {
      this.spawned.child.kill('SIGTERM');
      await this.spawned.exited;
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  };

  readonly floorwatch = async (...args: string[]) =>
    (
      await run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', ...args], {
        env: { ...process.env, ...testEnv(this.dataDir, {}) },
      })
    ).stdout;
  readonly output = () => this.hub.output();

  readonly connect = async (options: IClientOptions) => {
    const client = await mqtt.connectAsync(this.hub.mqttUrl, { ...options, reconnectPeriod: 0 });
    this.clients.push(client);
    return client;
  };
  readonly device = async (id: string, password: string) => this.connect({ clientId: id, username: id, password });

  readonly feed = async (path: string, init?: RequestInit) => {
    const opened = await openFeed(`${this.hub.url}${path}`, init);
    this.feeds.push(opened);
    return opened;
  };

  readonly asAdmin = async (path: string) => {
    const response = await fetch(`${this.hub.url}${path}`, { headers: { authorization: `Bearer ${this.admin}` } });
    expect(response.status).toBe(200);
    return response;
  };
  readonly closedCount = async (connection: string, reason: string) => {
    const text = await (await this.asAdmin('/metrics')).text();
    return Number(
      new RegExp(
        `floorwatch_revoked_connections_closed_total\\{connection="${connection}",reason="${reason}"\\} (\\d+)`,
      ).exec(text)?.[1] ?? 0,
    );
  };
  readonly closures = async () =>
    (
      (await (await this.asAdmin('/api/v1/audit?action=connection.close')).json()) as {
        entries: Array<{ who: string; details: Record<string, unknown> }>;
      }
    ).entries;
}

describe('revoking a credential closes its open connections', () => {
  const site = new Site();
  const { floorwatch, output, connect, device, feed, closedCount, closures } = site;

  beforeAll(async () => {
    await site.start();
    site.admin = tokenIn(await floorwatch('tokens', 'create', 'facilities', '--role', 'admin'));
  });
  afterAll(site.stop);

  it('closes the open connection of a revoked device, and no other', async () => {
    const revokedPassword = passwordIn(await floorwatch('devices', 'add', 'rv-a'));
    const otherPassword = passwordIn(await floorwatch('devices', 'add', 'rv-b'));
    const revoked = await device('rv-a', revokedPassword);
    const other = await device('rv-b', otherPassword);
    const closed = closing(revoked);

    expect(await floorwatch('devices', 'revoke', 'rv-a')).toMatch(
      /device rv-a revoked: it can no longer connect, and the running hub closes a connection it has open within a second/,
    );
    await closed;

    // The other device is still served: its QoS 1 message is acknowledged.
    await other.publishAsync('floorwatch/devices/rv-b/telemetry', JSON.stringify({ temperature: 21 }), { qos: 1 });
    expect(other.connected).toBe(true);
    await eventually(() => /device rv-a was revoked: its open connection was closed/.test(output()), {
      what: 'the log line',
    });
    expect(await closedCount('mqtt', 'revoked')).toBe(1);
    expect(await closures()).toEqual([
      expect.objectContaining({ who: 'hub', details: { connection: 'mqtt', device: 'rv-a', reason: 'revoked' } }),
    ]);
  });

  it('closes a connection made with the old password when the password is rotated; one with the new password stays', async () => {
    const oldPassword = passwordIn(await floorwatch('devices', 'add', 'rv-c'));
    const withOld = await device('rv-c', oldPassword);
    const closed = closing(withOld);
    const rotated = await floorwatch('devices', 'rotate', 'rv-c');
    await closed;
    expect(rotated).toMatch(/closes a connection rv-c has open with the old password/);
    const withNew = await device('rv-c', passwordIn(rotated));
    await eventually(
      () => /device rv-c has a new password: its open connection, made with the old one, was closed/.test(output()),
      { what: 'the log line' },
    );
    expect(await closedCount('mqtt', 'password_changed')).toBe(1);

    // The hub looks again at the next change; the connection made with the new password survives it.
    const passing = await device('rv-d', passwordIn(await floorwatch('devices', 'add', 'rv-d')));
    const passingClosed = closing(passing);
    await floorwatch('devices', 'revoke', 'rv-d');
    await passingClosed;
    expect(withNew.connected).toBe(true);
    await withNew.publishAsync('floorwatch/devices/rv-c/telemetry', JSON.stringify({ temperature: 22 }), { qos: 1 });
  });

  it('ends the live feed and the MQTT login of a revoked token; another token keeps streaming', async () => {
    const revokedToken = tokenIn(await floorwatch('tokens', 'create', 'wall-screen', '--role', 'viewer'));
    const otherToken = tokenIn(await floorwatch('tokens', 'create', 'night-shift', '--role', 'viewer'));
    // As the floor page opens it (EventSource cannot send a header), and as a script does.
    const revokedFeed = await feed(`/api/v1/events?access_token=${encodeURIComponent(revokedToken)}`);
    const otherFeed = await feed('/api/v1/events', { headers: { authorization: `Bearer ${otherToken}` } });
    const integration = await connect({
      clientId: 'wall-screen-bridge',
      username: 'wall-screen',
      password: revokedToken,
    });
    const integrationClosed = closing(integration);

    expect(await floorwatch('tokens', 'revoke', 'wall-screen')).toMatch(
      /closes the live feeds and MQTT connections opened with it/,
    );
    await revokedFeed.ended;
    await integrationClosed;

    const sensor = await device('rv-e', passwordIn(await floorwatch('devices', 'add', 'rv-e')));
    await sensor.publishAsync('floorwatch/devices/rv-e/telemetry', JSON.stringify({ co2: 640 }), { qos: 1 });
    await eventually(() => otherFeed.text().includes('"device":"rv-e"'), {
      what: 'the reading on the other live feed',
    });
    expect(revokedFeed.text()).not.toContain('"device":"rv-e"');

    const logged = [
      /token wall-screen was revoked: its open live feed \(\/api\/v1\/events\) was closed/,
      /token wall-screen was revoked: its open MQTT connection was closed/,
    ];
    await eventually(() => logged.every((line) => line.test(output())), { what: 'the log lines' });
    expect(await closedCount('events', 'revoked')).toBe(1);
    const details = (await closures()).map((e) => e.details);
    expect(details).toContainEqual({ connection: 'events', token: 'wall-screen', reason: 'revoked' });
    expect(details).toContainEqual({ connection: 'mqtt', token: 'wall-screen', reason: 'revoked' });
    expect(details.filter((d) => d.token === 'night-shift')).toEqual([]);
  });

  it('keeps running, and keeps open connections, when a credential file is damaged by hand; the log says why', async () => {
    const sensor = await device('rv-f', passwordIn(await floorwatch('devices', 'add', 'rv-f')));
    const file = join(site.dataDir, 'security', 'devices.json');
    const intact = readFileSync(file, 'utf8');
    writeFileSync(file, intact.slice(0, intact.length / 2));
    try {
      await eventually(
        () =>
          /open connections cannot be checked for revoked passwords or tokens: .*devices\.json cannot be read/.test(
            output(),
          ),
        { what: 'the log line' },
      );
      await sensor.publishAsync('floorwatch/devices/rv-f/telemetry', JSON.stringify({ humidity: 45 }), { qos: 1 });
      expect(sensor.connected).toBe(true);
      expect((await fetch(`${site.hub.url}/api/v1/health`)).status).toBe(200);
    } finally {
      writeFileSync(file, intact);
    }
  });
});

describe('the first password or token closes what the open hub let in anonymously', () => {
  const site = new Site();
  const { floorwatch, output, connect, device, feed, closedCount, closures } = site;
  let anonymous: MqttClient;
  let tokenless: Feed;

  beforeAll(async () => {
    await site.start();
    // No password and no token yet: both doors are open on this machine.
    anonymous = await connect({ clientId: 'x-1' });
    tokenless = await feed('/api/v1/events');
  });
  afterAll(site.stop);

  it('ends a live feed opened without a token once the first token is created; anonymous MQTT clients stay', async () => {
    site.admin = tokenIn(await floorwatch('tokens', 'create', 'facilities', '--role', 'admin'));
    // The broker looks at its clients on the same change that ends the feed.
    await tokenless.ended;
    await anonymous.publishAsync('floorwatch/devices/x-1/telemetry', JSON.stringify({ temperature: 20 }), { qos: 1 });
    expect(anonymous.connected).toBe(true);

    await eventually(
      () =>
        /an anonymous live feed \(\/api\/v1\/events from 127\.0\.0\.1\) was opened before the API needed a token: it was closed/.test(
          output(),
        ),
      { what: 'the log line' },
    );
    expect(await closedCount('events', 'login_required')).toBe(1);
    expect(await closedCount('mqtt', 'login_required')).toBe(0);
    expect(await closures()).toEqual([
      expect.objectContaining({
        who: 'hub',
        details: { connection: 'events', address: '127.0.0.1', reason: 'login_required' },
      }),
    ]);
    // A new feed without a token is refused now, one with the token is served.
    expect((await fetch(`${site.hub.url}/api/v1/events`)).status).toBe(401);
    await feed(`/api/v1/events?access_token=${encodeURIComponent(site.admin)}`);
  });

  it('closes an anonymous MQTT client once the first device password is created; the device logs in with it, and live feeds with a token stay', async () => {
    const watching = await feed('/api/v1/events', { headers: { authorization: `Bearer ${site.admin}` } });
    const closed = closing(anonymous);
    const password = passwordIn(await floorwatch('devices', 'add', 'x-2'));
    await closed;

    const sensor = await device('x-2', password);
    await sensor.publishAsync('floorwatch/devices/x-2/telemetry', JSON.stringify({ co2: 610 }), { qos: 1 });
    await eventually(() => watching.text().includes('"device":"x-2"'), {
      what: 'the reading on the live feed opened with a token',
    });
    await expect(mqtt.connectAsync(site.hub.mqttUrl, { clientId: 'x-3', reconnectPeriod: 0 })).rejects.toThrow(
      /Not authorized/i,
    );

    await eventually(
      () =>
        /an anonymous MQTT client \(client x-1 from 127\.0\.0\.1\) was let in before devices needed a password: its connection was closed/.test(
          output(),
        ),
      { what: 'the log line' },
    );
    expect(await closedCount('mqtt', 'login_required')).toBe(1);
    expect(await closedCount('events', 'login_required')).toBe(1);
    expect((await closures()).map((e) => e.details)).toEqual([
      { connection: 'mqtt', client: 'x-1', address: '127.0.0.1', reason: 'login_required' },
      { connection: 'events', address: '127.0.0.1', reason: 'login_required' },
    ]);
  });
});
