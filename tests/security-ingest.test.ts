// Who may write readings over HTTP. A device writes its own with HTTP Basic (its id and MQTT
// password); a token of the ingest role writes for devices without a password and reads nothing;
// no viewer, operator or admin token writes at all, so a person's token cannot forge a sensor's
// values or invent devices. On an open loopback hub anyone may still write. Every route keeps the
// role it had, checked route by route from the API's own description.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { ApiTokens, ROLES, roleAllows, type Role } from '../hub/security/tokens.ts';
import { eventually, startTestHub, storeCaughtUp, testEnv, type TestHub } from './support/hub.ts';
import { connackRefusal } from './support/mqtt.ts';

const run = promisify(execFile);

interface Outcome {
  accepted: number;
  rejected: number;
  problems: Array<{ reason: string; detail: string; device?: string }>;
}

const senml = (...records: Array<Record<string, unknown>>) => JSON.stringify(records);
const basic = (id: string, password: string) => `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`;

async function post(
  hub: TestHub,
  body: string,
  authorization?: string,
): Promise<{ status: number; body: Outcome & { message: string }; challenge: string | null }> {
  const response = await hub.api('/api/v1/readings', {
    method: 'POST',
    headers: { 'content-type': 'application/senml+json', ...(authorization && { authorization }) },
    body,
  });
  return {
    status: response.status,
    body: (await response.json()) as Outcome & { message: string },
    challenge: response.headers.get('www-authenticate'),
  };
}

describe('writing readings over HTTP on a hub with passwords and tokens', () => {
  let hub: TestHub;
  let password = '';
  const tokens = {} as Record<Role, string>;
  const bearer = (role: Role) => `Bearer ${tokens[role]}`;
  const values = async (device: string, metric = 'temperature') => {
    const response = await hub.api(`/api/v1/readings?device=${device}&metric=${metric}&from=-1h`, {
      headers: { authorization: bearer('viewer') },
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { points: Array<{ value: number }> }).points.map((p) => p.value);
  };

  beforeAll(async () => {
    hub = await startTestHub();
    const credentials = new DeviceCredentials(hub.dataDir);
    password = await credentials.add('dev-a', undefined, Date.now());
    await credentials.add('dev-r', undefined, Date.now());
    credentials.revoke('dev-r', Date.now());
    const store = new ApiTokens(hub.dataDir);
    for (const role of ROLES) tokens[role] = store.create(`${role}-1`, role, Date.now());
  });
  afterAll(async () => hub?.dispose());

  it('refuses viewer, operator and admin tokens, for a device with a password and for a new id alike', async () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      for (const device of ['dev-a', `forged-${role}`]) {
        const refused = await post(hub, senml({ bn: `${device}/`, n: 'temperature', u: 'Cel', v: 35 }), bearer(role));
        expect({ role, device, status: refused.status }).toEqual({ role, device, status: 403 });
        expect(refused.body.message).toMatch(
          new RegExp(
            `^token ${role}-1 has the ${role} role, which does not write readings: POST /api/v1/readings needs a token of the ingest role, or the device's own login`,
          ),
        );
      }
      expect(
        (await hub.api(`/api/v1/devices/forged-${role}`, { headers: { authorization: bearer('viewer') } })).status,
      ).toBe(404);
    }
    expect(await values('dev-a')).toEqual([]);
  });

  it('asks for a login, naming both ways, when none is sent', async () => {
    const refused = await post(hub, senml({ bn: 'dev-a/', n: 'temperature', v: 21 }));
    expect(refused.status).toBe(401);
    expect(refused.challenge).toBe('Basic realm="floorwatch", Bearer realm="floorwatch"');
    expect(refused.body.message).toMatch(
      /HTTP Basic \(user name = its device id, password = its MQTT password\).*tokens create <name> --role ingest/,
    );
    expect((await post(hub, senml({ bn: 'dev-a/', n: 'temperature', v: 21 }), 'Digest abc')).status).toBe(401);
    expect((await post(hub, senml({ bn: 'dev-a/', n: 'temperature', v: 21 }), 'Basic bm8tY29sb24=')).status).toBe(401);
  });

  it('lets a device write its own readings with HTTP Basic, and only its own', async () => {
    const own = await post(
      hub,
      senml({ bn: 'dev-a/', n: 'temperature', u: 'Cel', v: 21.5 }, { n: 'humidity', v: 41 }),
      basic('dev-a', password),
    );
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ accepted: 2, rejected: 0 });
    // A record without a device in its name is the device's own.
    expect((await post(hub, senml({ n: 'co2', u: 'ppm', v: 640 }), basic('dev-a', password))).body.accepted).toBe(1);

    const forged = await post(hub, senml({ bn: 'dev-b/', n: 'temperature', v: 40 }), basic('dev-a', password));
    expect(forged.status).toBe(403);
    expect(forged.body.problems).toEqual([
      {
        reason: 'device_mismatch',
        device: 'dev-a',
        detail: 'SenML names device "dev-b" but the message came from device "dev-a"',
      },
    ]);
    const mixed = await post(
      hub,
      senml({ bn: 'dev-a/', n: 'noise', v: 55 }, { bn: 'dev-b/', n: 'noise', v: 90 }),
      basic('dev-a', password),
    );
    expect(mixed).toMatchObject({ status: 200, body: { accepted: 1, rejected: 1 } });

    const wrong = await post(hub, senml({ bn: 'dev-a/', n: 'temperature', v: 30 }), basic('dev-a', `${password}x`));
    expect(wrong.status).toBe(401);
    expect(wrong.challenge).toMatch(/^Basic /);
    expect(wrong.body.message).toMatch(/^wrong password for device dev-a/);
    expect((await post(hub, senml({ bn: 'dev-r/', n: 'temperature', v: 30 }), basic('dev-r', password))).status).toBe(
      401,
    );

    // The store writer gathers what arrives within 25 ms: wait until it holds everything journaled.
    await storeCaughtUp(hub, tokens.viewer);
    expect(await values('dev-a')).toEqual([21.5]);
    expect(await values('dev-a', 'noise')).toEqual([55]);
    expect(await values('dev-b')).toEqual([]);
  });

  it('lets an ingest token write for devices without a password, never for one with a password', async () => {
    const fresh = await post(hub, senml({ bn: 'legacy-7/', n: 'temperature', u: 'Cel', v: 22 }), bearer('ingest'));
    expect(fresh).toMatchObject({ status: 200, body: { accepted: 1 } });

    for (const device of ['dev-a', 'dev-r']) {
      const refused = await post(hub, senml({ bn: `${device}/`, n: 'temperature', u: 'Cel', v: 35 }), bearer('ingest'));
      expect(refused.status).toBe(403);
      expect(refused.body.problems).toEqual([
        {
          reason: 'device_mismatch',
          device,
          detail: `device "${device}" has a password of its own, so only it may send its readings (HTTP Basic with its id and password, or MQTT); token ingest-1 writes only for devices without one`,
        },
      ]);
    }
    const mixed = await post(
      hub,
      senml({ bn: 'legacy-7/', n: 'humidity', v: 45 }, { bn: 'dev-a/', n: 'humidity', v: 99 }),
      bearer('ingest'),
    );
    expect(mixed).toMatchObject({ status: 200, body: { accepted: 1, rejected: 1 } });

    await eventually(async () => (await values('legacy-7')).length === 1, { what: "legacy-7's reading in the store" });
    expect(await values('dev-a', 'humidity')).toEqual([41]);
    const { rejections } = (await (
      await hub.api('/api/v1/rejections?reason=device_mismatch', { headers: { authorization: bearer('viewer') } })
    ).json()) as { rejections: Array<{ source: string; detail: string }> };
    expect(rejections.filter((r) => r.source === 'http' && r.detail.includes('token ingest-1'))).toHaveLength(3);
  });

  it('gives an ingest token nothing to read, and no MQTT login', async () => {
    for (const path of [
      '/api/v1/devices',
      '/api/v1/readings?device=legacy-7&metric=temperature',
      '/api/v1/zones',
      '/api/v1/rejections',
      '/metrics',
    ]) {
      const response = await hub.api(path, { headers: { authorization: bearer('ingest') } });
      expect({ path, status: response.status }).toEqual({ path, status: 403 });
      expect(((await response.json()) as { message: string }).message).toMatch(
        /^token ingest-1 has the ingest role; GET .* needs viewer$/,
      );
    }
    const abort = new AbortController();
    const events = await hub.api(`/api/v1/events?access_token=${encodeURIComponent(tokens.ingest)}`, {
      signal: abort.signal,
    });
    abort.abort();
    expect(events.status).toBe(403);
    expect(
      await connackRefusal(hub.mqttUrl, { clientId: 'ingest-1', username: 'ingest-1', password: tokens.ingest }),
    ).toBe(5);
  });

  it('keeps every route at its role: checked route by route from the API description', async () => {
    const docs = (await (await hub.api('/docs/json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(docs.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
    );
    expect(routes.length).toBeGreaterThan(15);
    /** What each route needs: reading the floor is a viewer's, changing it an operator's, except these. */
    const needs = (method: string, path: string): Role | 'public' => {
      if (path === '/api/v1/health') return 'public';
      if (method === 'POST' && path === '/api/v1/readings') return 'ingest';
      if (path === '/api/v1/audit' || path === '/api/v1/config/reload') return 'admin';
      return method === 'GET' ? 'viewer' : 'operator';
    };
    for (const { method, path } of routes) {
      const needed = needs(method, path);
      for (const role of ROLES) {
        const abort = new AbortController();
        const url = path.replace(/\{[^}]+\}/g, 'x-1');
        const response = await hub.api(url, {
          method,
          signal: abort.signal,
          headers: { authorization: bearer(role), ...(method !== 'GET' && { 'content-type': 'application/json' }) },
          ...(method !== 'GET' && { body: '{}' }),
        });
        abort.abort();
        const allowed = needed === 'public' || roleAllows(role, needed);
        expect({ method, path, role, refused: response.status === 403 || response.status === 401 }).toEqual({
          method,
          path,
          role,
          refused: !allowed,
        });
      }
    }
    // The people's roles in a line; ingest beside them, neither above nor below.
    expect(
      ROLES.flatMap((held) => ROLES.filter((needed) => roleAllows(held, needed)).map((needed) => `${held}→${needed}`)),
    ).toEqual([
      'viewer→viewer',
      'operator→viewer',
      'operator→operator',
      'admin→viewer',
      'admin→operator',
      'admin→admin',
      'ingest→ingest',
    ]);
  });

  it('creates an ingest token from the command line', async () => {
    const created = (
      await run(
        process.execPath,
        ['--import', 'tsx', 'hub/cli/main.ts', 'tokens', 'create', 'bms-export', '--role', 'ingest'],
        { env: { ...process.env, ...testEnv(hub.dataDir, {}) } },
      )
    ).stdout;
    const token = /^(fwt_\S+)$/m.exec(created)?.[1] ?? '';
    expect(created).toMatch(/^token bms-export \(ingest\):/);
    expect((await post(hub, senml({ bn: 'legacy-8/', n: 'co2', u: 'ppm', v: 700 }), `Bearer ${token}`)).status).toBe(
      200,
    );
    expect((await hub.api('/api/v1/devices', { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  });
});

describe('writing readings over HTTP on a hub without tokens', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => hub?.dispose());

  it('stays open on loopback while nothing has a password, then asks devices for theirs', async () => {
    expect((await post(hub, senml({ bn: 'open-1/', n: 'temperature', v: 21 }))).status).toBe(200);
    const password = await new DeviceCredentials(hub.dataDir).add('dev-c', undefined, Date.now());
    // Devices need a password on MQTT now, so over HTTP too; the rest of the API stays open.
    const refused = await post(hub, senml({ bn: 'open-1/', n: 'temperature', v: 22 }));
    expect(refused.status).toBe(401);
    expect((await post(hub, senml({ bn: 'dev-c/', n: 'temperature', v: 23 }), basic('dev-c', password))).status).toBe(
      200,
    );
    expect((await hub.api('/api/v1/devices')).status).toBe(200);
  });
});
