// The operator's commands against a running hub: `devices add|rotate|revoke|list`,
// `tokens create|list` and `silences add|list|remove`, each a real process, each change in force at once and in the audit log.
// The hub and the commands share one configuration, as on a site.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, testEnv, type TestHub } from './support/hub.ts';

const run = promisify(execFile);

const site = { zones: [{ id: 'floor-a' }, { id: 'server-room', type: 'server_room' }] };

describe('floorwatch devices and tokens', () => {
  let hub: TestHub;
  const floorwatchOn = async (config: Record<string, unknown> | undefined, args: string[]) =>
    (
      await run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', ...args], {
        env: { ...process.env, ...testEnv(hub.dataDir, config ? { config } : {}) },
      })
    ).stdout;
  const floorwatch = (...args: string[]) => floorwatchOn(site, args);
  const connects = async (password: string) => {
    const client = mqtt.connect(hub.mqttUrl, { clientId: 't-17', username: 't-17', password, reconnectPeriod: 0 });
    const outcome = await new Promise<boolean>((resolve) => {
      client.once('connect', () => resolve(true));
      client.once('error', () => resolve(false));
    });
    client.end(true);
    return outcome;
  };

  beforeAll(async () => {
    hub = await startTestHub({ config: site });
  });
  afterAll(async () => hub?.dispose());

  it('adds a device and prints its password once; rotating and revoking apply at once; all of it audited', async () => {
    const added = await floorwatch('devices', 'add', 't-17', '--zone', 'floor-a');
    const password = /password: +(\S+)/.exec(added)?.[1] ?? '';
    expect(password.length).toBeGreaterThanOrEqual(40);
    expect(added).toMatch(/shown once/);
    expect(await connects(password)).toBe(true);

    const rotated = /password: +(\S+)/.exec(await floorwatch('devices', 'rotate', 't-17'))?.[1] ?? '';
    expect(await connects(password)).toBe(false);
    expect(await connects(rotated)).toBe(true);

    await floorwatch('devices', 'revoke', 't-17');
    expect(await connects(rotated)).toBe(false);
    expect(await floorwatch('devices', 'list')).toMatch(/t-17 +zone floor-a .* revoked/);

    const token = /^(fwt_\S+)$/m.exec(await floorwatch('tokens', 'create', 'facilities', '--role', 'admin'))?.[1] ?? '';
    const audit = await hub.api('/api/v1/audit', { headers: { authorization: `Bearer ${token}` } });
    const { entries } = (await audit.json()) as {
      entries: Array<{ who: string; action: string; details: Record<string, unknown> }>;
    };
    expect(entries.map((e) => e.action)).toEqual(['token.create', 'device.revoke', 'device.rotate', 'device.add']);
    expect(entries.every((e) => e.who.startsWith('cli:'))).toBe(true);
    expect(await floorwatch('tokens', 'list')).toMatch(/facilities +admin/);
  });

  it('refuses a bad id or role with a clear message and changes nothing', async () => {
    await expect(floorwatch('devices', 'add', 'bad id')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/device id "bad id" contains " "/) as unknown,
    });
    await expect(floorwatch('tokens', 'create', 'x', '--role', 'boss')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/role "boss" is not one of viewer, operator, admin/) as unknown,
    });
    expect(await floorwatch('tokens', 'list')).not.toMatch(/^x /m);
  });

  it('refuses a zone the configuration does not list, naming the zones it does', async () => {
    await expect(floorwatch('devices', 'add', 't-18', '--zone', 'floor-z')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /zone "floor-z" is not one of the zones in the configuration \(known: floor-a, server-room\); nothing was changed/,
      ) as unknown,
    });
    expect(await floorwatch('devices', 'list')).not.toMatch(/^t-18 /m);
    expect(await floorwatch('devices', 'add', 't-18', '--zone', 'server-room')).toMatch(/password: +\S{40,}/);
    expect(await floorwatch('devices', 'list')).toMatch(/^t-18 +zone server-room /m);
  });

  it('takes any zone on a site whose configuration lists none', async () => {
    expect(await floorwatchOn(undefined, ['devices', 'add', 't-19', '--zone', 'floor-z'])).toMatch(
      /password: +\S{40,}/,
    );
    expect(await floorwatch('devices', 'list')).toMatch(/^t-19 +zone floor-z /m);
  });

  it('adds a weekly maintenance window and a one-off silence, lists them, removes one; refuses a bad one by field', async () => {
    // Earlier tests gave the hub tokens: the command needs an operator's.
    const token =
      /^(fwt_\S+)$/m.exec(await floorwatch('tokens', 'create', 'shift-lead', '--role', 'operator'))?.[1] ?? '';
    const silences = async (...args: string[]) =>
      (
        await run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', 'silences', ...args, '--url', hub.hub.url], {
          env: { ...process.env, ...testEnv(hub.dataDir, { config: site }), FLOORWATCH_TOKEN: token },
        })
      ).stdout;
    const weekly = await silences(
      'add',
      '--zone',
      'floor-a',
      '--kind',
      'equipment',
      '--every',
      'week',
      '--days',
      'tue,thu',
      '--start',
      '02:00',
      '--duration',
      '2h',
      '--by',
      'li.wei',
      '--comment',
      'PC patching',
    );
    expect(weekly).toMatch(/^added: +\d+ +zone=floor-a kind=equipment +every tue,thu 02:00 for 120 min/);
    await silences('add', '--device', 'srv-1', '--for', '2h', '--by', 'li.wei');
    const listed = await silences();
    expect(listed).toMatch(/in force +device=srv-1/);
    expect(listed).toMatch(/zone=floor-a kind=equipment +every tue,thu 02:00/);
    const id = /^ *(\d+) .*device=srv-1/m.exec(listed)?.[1] ?? '';
    expect(await silences('remove', id)).toBe(`silence ${id} removed\n`);
    expect(await silences()).not.toContain('device=srv-1');
    const bad = await silences(
      'add',
      '--zone',
      'floor-a',
      '--every',
      'month',
      '--nth',
      '5',
      '--weekday',
      'tue',
      '--start',
      '02:00',
      '--duration',
      '2h',
      '--by',
      'x',
    ).then(
      () => undefined,
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toContain('the hub refused the silence (400): recurrence.nth must be 1, 2, 3, 4, or -1');
  });
});
