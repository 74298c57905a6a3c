// Onboarding a floor from a spreadsheet: `floorwatch devices import` declares the file's devices in
// the configuration file (its comments and other settings kept) and prints a password once for each
// device without one; a running hub takes them on at a reload and they log in with it. A file with
// a bad row changes nothing and names every line; importing it again changes nothing;
// `devices export` writes what import reads.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceRows, parseCsv } from '../hub/cli/device-list.ts';
import { loadConfig } from '../hub/config/config.ts';
import { startTestHub, type TestHub } from './support/hub.ts';

const run = promisify(execFile);

const CONFIG = `# The site's configuration: this comment stays.
zones:
  - id: floor-a
    type: call_floor   # the open floor
devices:
  - id: env-a1
    kind: sensor
    zone: floor-a
    calibration: { temperature: -0.4 }
`;

const CSV = [
  'id,kind,zone,position,interval',
  'hs-a1,headset,floor-a,A-1,30s',
  'ph-a1,phone,floor-a,A-1,',
  'env-a1,sensor,floor-a,,60s',
  '"pc-a1",pc,floor-a,"A-1",1m',
  '',
].join('\r\n');

describe('devices import and export', () => {
  let hub: TestHub;
  let file: string;
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ['--import', 'tsx', 'hub/cli/main.ts', 'devices', ...args],
        { env: { ...process.env, ...hub.env } },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const csv = (name: string, text: string) => {
    const path = join(hub.dataDir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    hub = await startTestHub({ config: { zones: [{ id: 'floor-a', type: 'call_floor' }] } });
    file = hub.env.FLOORWATCH_CONFIG!;
    writeFileSync(file, CONFIG);
  });
  afterAll(() => hub.dispose());

  it('refuses a file with bad rows, naming each line, and changes nothing', async () => {
    const bad = csv(
      'bad.csv',
      [
        'id,kind,zone,position,interval',
        'hs-a1,headset,floor-a,A-1,30s',
        'hs-a2,toaster,floor-a,,',
        'hs-a3,headset,floor-z,,',
        '__proto__,headset,floor-a,,',
        'hs-a4,headset,floor-a,,soon',
        'hs-a1,headset,floor-a,,',
        'hs-a5,headset,floor-a,,,extra',
      ].join('\n'),
    );
    const result = await cli('import', bad);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').slice(1, -1)).toEqual([
      expect.stringMatching(/^ {2}line 3: kind "toaster": /),
      '  line 4: zone "floor-z" is not one of the configuration\'s zones (floor-a)',
      expect.stringMatching(/^ {2}line 5: id "__proto__": must be 1-64 letters/),
      expect.stringMatching(/^ {2}line 6: interval "soon": must be a duration/),
      '  line 7: device hs-a1 is listed twice (first on line 2)',
      '  line 8: 6 cells, but the first line names 5 columns',
    ]);
    expect(result.stderr).toMatch(/has 6 problem\(s\); nothing was changed/);
    expect(readFileSync(file, 'utf8')).toBe(CONFIG);
    expect((await cli('list')).stdout).toMatch(/no device has a password yet/);
    expect((await cli('import', csv('columns.csv', 'id,model\nhs-1,x\n'))).stderr).toContain(
      'line 1: unknown column(s) "model" (use id, kind, zone, position, interval)',
    );
  });

  it('declares the devices, keeps the rest of the file, prints each new password once; the hub takes them on at a reload', async () => {
    const result = await cli('import', csv('devices.csv', CSV));
    expect(result.code).toBe(0);
    const passwords = new Map(
      [...result.stdout.matchAll(/^device: +(\S+)\n(?:.*\n){2}password: +(\S+)$/gm)].map((m) => [m[1], m[2]]),
    );
    expect([...passwords.keys()]).toEqual(['hs-a1', 'ph-a1', 'env-a1', 'pc-a1']);
    expect(result.stdout).toContain('4 devices in');
    expect(result.stdout).toContain('3 declared, 0 changed');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain("# The site's configuration: this comment stays.");
    expect(text).toContain('# the open floor');
    const config = loadConfig({ env: hub.env });
    expect(config.devices.map((d) => [d.id, d.kind, d.zone, d.position, d.heartbeat_interval])).toEqual([
      ['env-a1', 'sensor', 'floor-a', undefined, '60s'],
      ['hs-a1', 'headset', 'floor-a', 'A-1', '30s'],
      ['ph-a1', 'phone', 'floor-a', 'A-1', '60s'],
      ['pc-a1', 'pc', 'floor-a', 'A-1', '1m'],
    ]);
    expect(config.devices[0]?.calibration).toEqual({ temperature: -0.4 });

    const reload = await hub.api('/api/v1/config/reload', { method: 'POST' });
    expect(((await reload.json()) as { applied: string[] }).applied).toEqual([
      'devices added: env-a1, hs-a1, ph-a1, pc-a1',
    ]);
    expect(await hub.json('/api/v1/devices/hs-a1')).toMatchObject({ declared: true, kind: 'headset', position: 'A-1' });
    // The printed password is the one the broker takes.
    const client = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: 'hs-a1',
      username: 'hs-a1',
      password: passwords.get('hs-a1')!,
      reconnectPeriod: 0,
    });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('changes nothing when the same file comes again, and exports what import reads', async () => {
    const before = readFileSync(file, 'utf8');
    const again = await cli('import', join(hub.dataDir, 'devices.csv'));
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('nothing changed: 4 devices in');
    expect(again.stdout).not.toContain('password:');
    expect(readFileSync(file, 'utf8')).toBe(before);

    const exported = await cli('export');
    expect(exported.stdout).toBe(
      [
        'id,kind,zone,position,interval',
        'env-a1,sensor,floor-a,,60s',
        'hs-a1,headset,floor-a,A-1,30s',
        'ph-a1,phone,floor-a,A-1,60s',
        'pc-a1,pc,floor-a,A-1,1m',
        '',
      ].join('\r\n'),
    );
    expect((await cli('import', csv('exported.csv', exported.stdout))).stdout).toContain('nothing changed');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('tells its progress in tenths while it makes the passwords of twenty new devices, each the one its device logs in with', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `hs-b${String(i + 1).padStart(2, '0')}`);
    const rows = ['id,kind,zone,position,interval', ...ids.map((id) => `${id},headset,floor-a,,30s`), ''];
    const result = await cli('import', csv('row-b.csv', rows.join('\n')));
    expect(result.code).toBe(0);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('new passwords:'))).toEqual(
      Array.from({ length: 10 }, (_, i) => `new passwords: ${2 * (i + 1)} of 20 (${10 * (i + 1)} %)`),
    );
    const passwords = new Map(
      [...result.stdout.matchAll(/^device: +(\S+)\n(?:.*\n){2}password: +(\S+)$/gm)].map((m) => [m[1], m[2]]),
    );
    expect([...passwords.keys()]).toEqual(ids);
    await hub.api('/api/v1/config/reload', { method: 'POST' });
    // Made a few at a time: every device's hash is of its own password.
    for (const id of ids) {
      const client = await mqtt.connectAsync(hub.mqttUrl, {
        clientId: id,
        username: id,
        password: passwords.get(id)!,
        reconnectPeriod: 0,
      });
      await client.endAsync();
    }
    // A device revoked since is not given a password back by importing the file again, and is named.
    expect((await cli('revoke', 'hs-b07')).code).toBe(0);
    const again = await cli('import', join(hub.dataDir, 'row-b.csv'));
    expect(again.stdout).toContain('nothing changed: 20 devices in');
    expect(again.stdout).toContain('1 of them revoked, and left so: hs-b07 ("devices rotate <device-id>"');
    expect(again.stdout).not.toMatch(/^password:/m);
  });
});

describe('reading a device list', () => {
  it('takes quoted cells with commas, quotes and line breaks, a byte-order mark, and blank lines', () => {
    expect(parseCsv('\uFEFFid,kind\n"a,1","say ""hi""\nthere"\n\n"b",c')).toEqual([
      { line: 1, cells: ['id', 'kind'] },
      { line: 2, cells: ['a,1', 'say "hi"\nthere'] },
      { line: 5, cells: ['b', 'c'] },
    ]);
    expect(deviceRows('', [])).toEqual({
      rows: [],
      problems: ['the file is empty: the first line names the columns (id,kind,zone,position,interval)'],
    });
    expect(deviceRows('id,kind\nconstructor,pc\ntoString,phone\n', []).rows.map((r) => r.id)).toEqual([
      'constructor',
      'toString',
    ]);
  });
});
