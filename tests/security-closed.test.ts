// A site that has had an API token never opens its API again by itself. Revoking the last token is
// refused by the command line unless forced, and forced it closes the API to everyone — this
// machine included — until a new token is created; health then tells a caller without a token
// only the status. Seen from another host too: a hub bound to one of this machine's network
// addresses, asked from that address, so the hub sees a caller that is not loopback. The
// decision itself is checked for every kind of address, since a test has no second machine.
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { networkInterfaces } from 'node:os';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isLoopbackHost, tokenlessAccess } from '../hub/security/exposure.ts';
import { ApiTokens, type TokenStanding } from '../hub/security/tokens.ts';
import { capturedLog, startTestHub, tempDir, testEnv, type TestHub } from './support/hub.ts';

const run = promisify(execFile);

const floorwatch = async (dataDir: string, bind: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', ...args], {
    env: { ...process.env, ...testEnv(dataDir, { bind }) },
  });
const tokenIn = (text: string) => /^(fwt_\S+)$/m.exec(text)?.[1] ?? '';

/** The 90-day silence the attack sent, that would mute every alert of the site. */
const LONG_SILENCE = JSON.stringify({
  matchers: { severity: 'critical' },
  duration: '90d',
  createdBy: 'intruder',
  comment: 'maintenance',
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
  /** The address this side of the connection used: what the hub saw as the caller. */
  from: string;
}

/** One HTTP request, reporting the local address it was sent from. */
function ask(url: string, init: { method?: string; token?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      ...(init.token !== undefined && { authorization: `Bearer ${init.token}` }),
      ...(init.body !== undefined && { 'content-type': 'application/json' }),
    };
    const req = httpRequest(url, { method: init.method ?? 'GET', headers, agent: false }, (res) => {
      const from = res.socket.localAddress ?? '';
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
          from,
        }),
      );
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('who is served without a token', () => {
  const asked = (
    tokens: TokenStanding,
    allowAnonymous: boolean,
    address: string,
    host: string | undefined = '127.0.0.1:8080',
  ) => tokenlessAccess({ tokens, allowAnonymous, address, host });
  const network = ['192.0.2.9', '10.0.0.5', '::ffff:192.168.1.20', 'fd00::2', 'fe80::1'];
  const loopback = ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1'];

  it('a hub that never had a token answers this machine only, and nobody on the network', () => {
    for (const address of loopback) expect(asked('none', false, address), address).toEqual({ served: true });
    for (const address of network) {
      expect(asked('none', false, address), address).toMatchObject({
        served: false,
        status: 401,
        message: expect.stringContaining(
          `only on its own machine, not to ${address}: create a token there with: npm run floorwatch -- tokens create`,
        ) as unknown,
      });
    }
  });

  it('a site whose tokens were all revoked is closed to every address, this machine included', () => {
    for (const address of [...loopback, ...network]) {
      expect(asked('all_revoked', false, address), address).toMatchObject({
        served: false,
        status: 401,
        message: expect.stringMatching(
          /every API token of this hub has been revoked.*tokens create <name> --role admin/,
        ) as unknown,
      });
    }
  });

  it('a live token closes the API whatever allow_anonymous says; allow_anonymous alone opens it to every address', () => {
    for (const address of [...loopback, ...network]) {
      expect(asked('live', true, address)).toMatchObject({ served: false, status: 401 });
      expect(asked('live', false, address)).toMatchObject({ served: false, status: 401 });
      expect(asked('none', true, address, 'hub.example.local:8080')).toEqual({ served: true });
      expect(asked('all_revoked', true, address)).toEqual({ served: true });
    }
  });

  it('an open hub answers only to the names of this machine', () => {
    for (const host of [
      'localhost',
      'localhost:8080',
      'LOCALHOST:80',
      '127.0.0.1',
      '127.0.0.1:8080',
      '127.9.8.7:1',
      '[::1]',
      '[::1]:8080',
    ])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of [
      'evil.example:8080',
      'evil.example',
      '127.0.0.1.evil.example',
      'localhost.evil.example:8080',
      '192.0.2.2:8080',
      '[fd00::2]:8080',
      '127.1',
      '127.0.0.1:',
      '127.0.0.1:8080:80',
      '[::1',
      'localhost:http',
      '',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
    expect(asked('none', false, '127.0.0.1', 'evil.example:8080')).toMatchObject({
      served: false,
      status: 421,
      message: expect.stringMatching(/not as "evil.example:8080"/) as unknown,
    });
    // No Host at all is not a browser (they always send it): HTTP/1.0 tools.
    expect(asked('none', false, '127.0.0.1', undefined)).toEqual({ served: true });
  });
});

describe('revoking the last API token, on this machine', () => {
  const dataDir = tempDir();
  let hub: TestHub;
  const cli = (...args: string[]) => floorwatch(dataDir, '127.0.0.1', ...args);
  afterAll(async () => {
    await hub?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is refused unless forced, saying how to go on; forced, it closes the API even to this machine, until a new token', async () => {
    hub = await startTestHub({ dataDir });
    const admin = tokenIn((await cli('tokens', 'create', 'facilities', '--role', 'admin')).stdout);

    await expect(cli('tokens', 'revoke', 'facilities')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /token facilities is the last live API token; nothing was changed\. Revoking it would close the API to everyone.*Create another admin token first \(npm run floorwatch -- tokens create <name> --role admin\).*tokens revoke facilities --force/,
      ) as unknown,
    });
    expect((await ask(`${hub.hub.url}/api/v1/audit`, { token: admin })).status).toBe(200);

    const forced = await cli('tokens', 'revoke', 'facilities', '--force');
    expect(forced.stdout).toMatch(/token facilities revoked/);
    expect(forced.stderr).toMatch(
      /WARNING: no API token is live any more\. The API is now CLOSED TO EVERYONE.*\n.*tokens create <name> --role admin/,
    );
    expect((await cli('tokens', 'list')).stdout).toMatch(
      /no token is live: the API refuses every request until one is created/,
    );

    // Loopback, and still refused: the site has had tokens.
    const audit = await ask(`${hub.hub.url}/api/v1/audit`);
    expect(audit.from).toBe('127.0.0.1');
    expect(audit.status).toBe(401);
    expect(audit.body.message).toMatch(
      /every API token of this hub has been revoked, so the API accepts no request until an administrator creates a new token on the hub's machine: npm run floorwatch -- tokens create <name> --role admin/,
    );
    expect((await ask(`${hub.hub.url}/api/v1/silences`, { method: 'POST', body: LONG_SILENCE })).status).toBe(401);
    expect((await ask(`${hub.hub.url}/api/v1/devices`)).status).toBe(401);
    expect(await ask(`${hub.hub.url}/api/v1/audit`, { token: admin })).toMatchObject({
      status: 401,
      body: { message: expect.stringMatching(/every API token of this hub has been revoked/) as unknown },
    });
    const health = await ask(`${hub.hub.url}/api/v1/health`);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(Object.keys(health.body)).toEqual(['status']);

    const created = await cli('tokens', 'create', 'night-shift', '--role', 'admin');
    expect(created.stdout).toMatch(/accepts requests with this token again/);
    const fresh = tokenIn(created.stdout);
    const entries = (await ask(`${hub.hub.url}/api/v1/audit?action=token.revoke`, { token: fresh })).body.entries;
    expect(entries).toEqual([
      expect.objectContaining({ action: 'token.revoke', details: { token: 'facilities', last: true } }),
    ]);
    expect((await ask(`${hub.hub.url}/api/v1/silences`, { token: fresh })).body).toMatchObject({ silences: [] });
  });

  it('revokes a token that is not the last one without asking', async () => {
    await cli('tokens', 'create', 'wall-screen', '--role', 'viewer');
    const revoked = await cli('tokens', 'revoke', 'wall-screen');
    expect(revoked.stdout).toMatch(/token wall-screen revoked/);
    expect(revoked.stderr).toBe('');
  });
});

/** One of this machine's own network addresses: a hub bound to it and asked from it sees a caller that is not loopback. */
function networkAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal);
  if (!found)
    throw new Error(
      'this test needs a network address on this machine besides loopback (os.networkInterfaces() lists none)',
    );
  return found.address;
}

describe('revoking the last API token, seen from another host', () => {
  const dataDir = tempDir();
  const lan = networkAddress();
  const cli = (...args: string[]) => floorwatch(dataDir, lan, ...args);
  let hub: TestHub | undefined;
  let admin = '';
  afterEach(async () => {
    await hub?.stop();
    hub = undefined;
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('tells another host without a token only the status of its health, and everything with one', async () => {
    await cli('devices', 'add', 'env-1');
    admin = tokenIn((await cli('tokens', 'create', 'facilities', '--role', 'admin')).stdout);
    hub = await startTestHub({ dataDir, bind: lan });
    const anonymous = await ask(`${hub.hub.url}/api/v1/health`);
    expect(anonymous).toMatchObject({ status: 200, from: lan, body: { status: 'ok' } });
    expect(Object.keys(anonymous.body)).toEqual(['status']);
    const full = await ask(`${hub.hub.url}/api/v1/health`, { token: admin });
    expect(full.body).toMatchObject({
      status: 'ok',
      checks: {
        broker: { clients: 0 },
        store: { ok: true, detail: expect.stringContaining(dataDir) as unknown },
        journal: { ok: true },
      },
    });
  });

  it('answers neither the audit log nor a 90-day silence to another host once the last token is revoked', async () => {
    hub = await startTestHub({ dataDir, bind: lan });
    const base = hub.hub.url;
    expect(await ask(`${base}/api/v1/audit`, { token: admin })).toMatchObject({ status: 200, from: lan });

    // The file change `tokens revoke facilities --force` makes (its refusals are checked above).
    new ApiTokens(dataDir).revoke('facilities', Date.now());
    const audit = await ask(`${base}/api/v1/audit`);
    expect(audit).toMatchObject({ status: 401, from: lan });
    expect(audit.body.message).toMatch(/every API token of this hub has been revoked/);
    expect(await ask(`${base}/api/v1/silences`, { method: 'POST', body: LONG_SILENCE })).toMatchObject({
      status: 401,
      from: lan,
    });
    expect((await ask(`${base}/api/v1/silences`)).status).toBe(401);
  });

  it('starts again on the network with every token revoked, warns, and stays closed', async () => {
    const { log, text } = capturedLog('warn');
    hub = await startTestHub({ dataDir, bind: lan, log });
    expect(text()).toMatch(
      /every API token of this site has been revoked: the API refuses every request \(401\) until an administrator creates a new token/,
    );
    expect(await ask(`${hub.hub.url}/api/v1/audit`)).toMatchObject({ status: 401, from: lan });
    const health = await ask(`${hub.hub.url}/api/v1/health`);
    expect(Object.keys(health.body)).toEqual(['status']);
  });
});
