// `floorwatch config check`: a file checked as the hub checks it at start, before anyone applies
// it — every problem with its field, value and line, exit 1; a good file summarised, exit 0.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/hub.ts';

const run = promisify(execFile);
const dir = tempDir('floorwatch-config-check-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, `floorwatch-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  const env = { ...process.env };
  delete env.FLOORWATCH_CONFIG;
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'hub/cli/main.ts', 'config', 'check', file],
      { env },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('floorwatch config check', () => {
  it('names every problem with its field, the value found and its line, and exits 1', async () => {
    const lines = [
      'site:',
      '  timezone: Europe/Berlin',
      'zones:',
      '  - id: floor-a',
      '    type: open_plan',
      'devices:',
      '  - { id: hs-1, kind: headset, zone: floor-b }',
      'rules:',
      '  overrides:',
      '    temperature: { for: soon }',
    ];
    const fields = await check(lines.join('\n'));
    expect(fields.code).toBe(1);
    expect(fields.stderr).toMatch(/would not start the hub: 2 problem\(s\)/);
    expect(fields.stderr).toMatch(/zones\.0\.type \(found "open_plan"\): must be one of .* \[in .*, line 5\]/);
    expect(fields.stderr).toMatch(/rules\.overrides\.temperature\.for \(found "soon"\): .* \[in .*, line 10\]/);
    // Checks across sections run once every field is right, as at start.
    const across = await check(lines.slice(0, 4).concat(lines.slice(5, 7)).join('\n'));
    expect(across.code).toBe(1);
    expect(across.stderr).toMatch(/devices\.0\.zone \(found "floor-b"\): .*not under zones.* \[in .*, line 6\]/);
  });

  it('summarises a file the hub would start with, and exits 0', async () => {
    const { code, stdout } = await check(
      [
        'site: { name: Harbour, timezone: Europe/Berlin, hours: { mon-fri: "08:00-20:00" } }',
        'zones: [{ id: floor-a, rules: { noise: { warning: { above: 62 } } } }, { id: srv, type: server_room }]',
        'devices: [{ id: hs-1, kind: headset, zone: floor-a }]',
        'rules: { overrides: { co2: { warning: { above: 900 } } } }',
        'notify:',
        '  receivers: [{ name: facilities, email: { to: [fm@example.com], from: fw@example.com, smtp: "smtp://mail.example.com:587" } }]',
        '  routes: [{ match: { severity: critical }, receiver: facilities }]',
      ].join('\n'),
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/is valid\./);
    expect(stdout).toMatch(/site: Harbour, time zone Europe\/Berlin, opening hours set/);
    expect(stdout).toMatch(/zones: 2 \(floor-a, srv\)/);
    expect(stdout).toMatch(/devices declared: 1 \(0 calibrated\); serial gateways: 0/);
    expect(stdout).toMatch(/silences kept in the file: none/);
    expect(stdout).toMatch(/rules changed against the defaults: site-wide co2; in zones floor-a/);
    expect(stdout).toMatch(/receivers: facilities \(email\); routes: 1; webhooks: 0/);
  });

  it('refuses, as the hub would at start, TLS files it cannot read and the network without credentials', async () => {
    const open = await check(`bind: 0.0.0.0\ndata_dir: ${join(dir, 'empty')}\n`);
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(
      /would not start the hub: 1 problem\(s\):\n {2}- the hub is set to listen on 0\.0\.0\.0, which other machines can reach, but no device has a password/,
    );
    const tls = await check(
      `data_dir: ${join(dir, 'empty')}\nsecurity:\n  tls: { cert: ${join(dir, 'absent.pem')}, key: ${join(dir, 'absent.key')} }\n`,
    );
    expect(tls.code).toBe(1);
    expect(tls.stderr).toContain(`security.tls.cert names ${join(dir, 'absent.pem')}, which cannot be read`);
  });

  it('refuses a file that is not YAML, or a calendar it cannot read, as the hub would', async () => {
    const broken = await check('zones: [ { id: floor-a\n');
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/is not valid YAML/);
    const calendar = await check(`site: { holiday_calendar: ${join(dir, 'missing.ics')} }\n`);
    expect(calendar.code).toBe(1);
    expect(calendar.stderr).toMatch(/site\.holiday_calendar: cannot read .*missing\.ics/);
  });

  it('shows a command’s usage for --help after it, as for `help <command>`', async () => {
    const help = await run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', 'config', 'check', '--help']);
    expect(help.stdout).toMatch(/^floorwatch config check/m);
    const devices = await run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', 'devices', 'add', '--help']);
    expect(devices.stdout).toMatch(/^floorwatch devices import devices\.csv/m);
  });
});
