// The hub's own pages and this machine's own names, without a browser: an open hub (no token ever
// created) answers only to localhost, 127.x.x.x and [::1] in the Host header — a DNS name
// rebound to 127.0.0.1 gets 421 — and every hub turns away a request from a web page of another
// origin (403) unless http.allowed_origins lists it. Clients that are not browsers send no Origin
// and pass. Each refusal is counted; the log names them at most once a minute per kind.
import { request, type IncomingMessage } from 'node:http';
import mqtt from 'mqtt';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../hub/config/config.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { capturedLog, startTestHub, tempDir, testEnv, type TestHub } from './support/hub.ts';

interface Answer {
  status: number;
  message: string | undefined;
  /** Resolves once the hub has closed the connection (for a refused WebSocket upgrade). */
  closed: Promise<void>;
}

/** One request to 127.0.0.1 with the headers a browser or an attacker chooses, Host included. */
function send(port: number, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false });
    const answer = (res: IncomingMessage) => {
      const closed = new Promise<void>((done) => res.socket.once('close', () => done()));
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        let message: string | undefined;
        try {
          message = (JSON.parse(text) as { message?: string }).message;
        } catch {
          message = undefined;
        }
        resolve({ status: res.statusCode ?? 0, message, closed });
      });
    };
    req.on('response', answer);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, message: undefined, closed: Promise.resolve() });
    });
    req.on('error', reject);
    req.end();
  });
}

const UPGRADE = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-protocol': 'mqtt',
};

describe('an open hub answers only to the names of this machine', () => {
  let hub: TestHub;
  let clock = Date.UTC(2025, 5, 2, 9);
  const captured = capturedLog('warn');
  const port = () => hub.hub.httpPort;
  const refused = async (reason: string) =>
    Number(
      new RegExp(`floorwatch_http_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(
        await (await hub.api('/metrics')).text(),
      )?.[1] ?? 0,
    );
  const lines = (pattern: RegExp) =>
    captured
      .text()
      .split('\n')
      .filter((l) => pattern.test(l));

  beforeAll(async () => {
    hub = await startTestHub({ now: () => clock, log: captured.log });
  });
  afterAll(async () => hub?.dispose());

  it('serves localhost, 127.0.0.1 and [::1] with or without a port', async () => {
    for (const host of [`localhost:${port()}`, `127.0.0.1:${port()}`, `[::1]:${port()}`, 'localhost', '127.0.0.2']) {
      expect((await send(port(), '/api/v1/devices', { host })).status, host).toBe(200);
    }
    const socket = await send(port(), '/mqtt', { ...UPGRADE, host: `localhost:${port()}` });
    expect(socket.status).toBe(101);
  });

  it('refuses another name with 421 on every route, the WebSocket included, and closes a refused upgrade', async () => {
    for (const path of ['/', '/api/v1/devices', '/api/v1/health', '/docs', '/api/v1/events']) {
      const answer = await send(port(), path, { host: 'evil.example:8080' });
      expect(answer.status, path).toBe(421);
      expect(answer.message, path).toMatch(
        /this hub has no API token yet, so it answers only when called by this machine's own name \(localhost, 127\.0\.0\.1 or \[::1\]\), not as "evil\.example:8080".*tokens create/,
      );
    }
    const upgrade = await send(port(), '/mqtt', { ...UPGRADE, host: 'evil.example:8080' });
    expect(upgrade.status).toBe(421);
    await upgrade.closed;
    expect(await refused('host')).toBe(6);
  });

  it('logs such refusals once a minute, with how many it did not log', async () => {
    expect(lines(/addressed to \\"evil\.example:8080\\"/)).toHaveLength(1);
    expect(lines(/addressed to/)[0]).toMatch(
      /refused GET \/ from 127\.0\.0\.1 addressed to \\"evil\.example:8080\\": a hub without API tokens answers only to localhost, 127\.0\.0\.1 and \[::1\]/,
    );
    for (let i = 0; i < 50; i++)
      expect((await send(port(), '/api/v1/devices', { host: `rebound-${i}.example` })).status).toBe(421);
    expect(lines(/addressed to/)).toHaveLength(1);
    clock += 60_000;
    await send(port(), '/api/v1/alerts', { host: 'evil.example' });
    const logged = lines(/addressed to/);
    expect(logged).toHaveLength(2);
    expect(logged[1]).toMatch(/GET \/api\/v1\/alerts .*\(55 more like it since the last such line\)/);
    expect(await refused('host')).toBe(57);
  });

  it('turns away a page of another origin, on any route; clients without an Origin, such as mqtt.js, pass', async () => {
    const own = `http://127.0.0.1:${port()}`;
    expect((await send(port(), '/api/v1/devices', { host: `127.0.0.1:${port()}`, origin: own })).status).toBe(200);
    for (const origin of [
      'http://127.0.0.1:1',
      `http://localhost:${port()}`,
      `https://127.0.0.1:${port()}`,
      'null',
      'not an origin',
    ]) {
      const answer = await send(port(), '/api/v1/devices', { host: `127.0.0.1:${port()}`, origin });
      expect(answer.status, origin).toBe(403);
      expect(answer.message, origin).toMatch(
        /may not use this hub: only the hub's own pages and the origins listed under http\.allowed_origins may/,
      );
    }
    const upgrade = await send(port(), '/mqtt', {
      ...UPGRADE,
      host: `127.0.0.1:${port()}`,
      origin: 'http://127.0.0.1:1',
    });
    expect(upgrade.status).toBe(403);
    await upgrade.closed;
    expect(await refused('origin')).toBe(6);
    expect(lines(/from a web page at/)).toHaveLength(1);

    const client = await mqtt.connectAsync(`ws://127.0.0.1:${port()}/mqtt`, {
      clientId: 'ws-tool',
      reconnectPeriod: 0,
    });
    await client.publishAsync('floorwatch/devices/ws-1/telemetry', JSON.stringify({ temperature: 21 }), { qos: 1 });
    await client.endAsync();
    // The same WebSocket client, made to say it runs in a page of another origin.
    const socket = new WebSocket(`ws://127.0.0.1:${port()}/mqtt`, 'mqtt', { origin: 'http://127.0.0.1:1' });
    await expect(new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))).rejects.toThrow(
      /Unexpected server response: 403/,
    );
  });

  it('answers by any name once a token exists, to a caller with the token; still not to a foreign page, nor an anonymous WebSocket to a rebound name', async () => {
    const token = new ApiTokens(hub.dataDir).create('wall-screen', 'viewer', clock);
    const named = { host: `hub.example.local:${port()}`, authorization: `Bearer ${token}` };
    expect((await send(port(), '/api/v1/devices', named)).status).toBe(200);
    expect((await send(port(), '/api/v1/devices', { host: `hub.example.local:${port()}` })).status).toBe(401);
    expect(
      (await send(port(), '/api/v1/devices', { ...named, origin: `http://hub.example.local:${port()}` })).status,
    ).toBe(200);
    expect((await send(port(), '/api/v1/devices', { ...named, origin: 'http://intranet.example' })).status).toBe(403);

    // MQTT over WebSocket, anonymous while no device has a password: from a page of this
    // machine's own names, but not from one whose name was rebound to 127.0.0.1.
    const local = await mqtt.connectAsync(`ws://127.0.0.1:${port()}/mqtt`, {
      clientId: 'ws-local',
      reconnectPeriod: 0,
    });
    await local.endAsync();
    const rebound = { host: `rebound.example:${port()}`, origin: `http://rebound.example:${port()}` };
    await expect(
      mqtt.connectAsync(`ws://127.0.0.1:${port()}/mqtt`, {
        clientId: 'ws-rebound',
        reconnectPeriod: 0,
        wsOptions: { headers: rebound },
      }),
    ).rejects.toThrow(/Not authorized/);
  });
});

describe('http.allowed_origins', () => {
  const dataDir = tempDir();
  const load = (config: Record<string, unknown>, env: Record<string, string> = {}) =>
    loadConfig({ env: { ...testEnv(dataDir, { config }), ...env } });

  it('takes origins from the file or, comma-separated, from FLOORWATCH_HTTP__ALLOWED_ORIGINS, as browsers write them', () => {
    expect(
      load({ http: { allowed_origins: ['https://grafana.example.com:3000/', 'http://Wall.Example:80'] } }).http
        .allowed_origins,
    ).toEqual(['https://grafana.example.com:3000', 'http://wall.example']);
    expect(
      load({}, { FLOORWATCH_HTTP__ALLOWED_ORIGINS: 'https://a.example, http://b.example:8080' }).http.allowed_origins,
    ).toEqual(['https://a.example', 'http://b.example:8080']);
    expect(load({}).http.allowed_origins).toEqual([]);
  });

  it('refuses what is not an origin, naming the field', () => {
    for (const bad of [
      'grafana.example.com',
      'https://grafana.example.com/dashboards',
      'ftp://files.example',
      'https://user:pw@grafana.example.com',
      '*',
      'null',
    ]) {
      let error: unknown;
      try {
        load({ http: { allowed_origins: ['https://ok.example', bad] } });
      } catch (err) {
        error = err;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message, bad).toMatch(
        /http\.allowed_origins\.1 \(found .*\): must be an origin: http:\/\/ or https:\/\/, a host name and an optional port, with no path/,
      );
    }
  });
});
