import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../hub/config/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'floorwatch-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig({ env, cwd: dir });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('starts on the documented defaults with no file and no variables', () => {
    const config = loadConfig({ env: {}, cwd: dir });
    expect(config.http.port).toBe(8080);
    expect(config.mqtt.port).toBe(1883);
    expect(config.bind).toBe('127.0.0.1');
    expect(config.data_dir).toBe(join(dir, 'data'));
    expect(config.storage.influx_url).toBeUndefined();
    expect(config.storage.raw_retention).toBe('30d');
    expect(config.ingest.accept_undeclared_devices).toBe(true);
    expect(config.log_format).toBe('auto');
  });

  it('takes the log format from FLOORWATCH_LOG_FORMAT and refuses one it does not know', () => {
    expect(loadConfig({ env: { FLOORWATCH_LOG_FORMAT: 'json' }, cwd: dir }).log_format).toBe('json');
    expect(problems({ FLOORWATCH_LOG_FORMAT: 'xml' })[0]).toMatch(
      /^log_format \(found "xml"\): must be one of "auto", "text", "json" \[from FLOORWATCH_LOG_FORMAT\]/,
    );
  });

  it('reads floorwatch.yaml and lets FLOORWATCH_* variables override it', () => {
    const path = file(
      'site.yaml',
      'http:\n  port: 9000\nzones:\n  - id: floor-a\n    type: call_floor\ndevices:\n  - id: t-1\n    kind: sensor\n    zone: floor-a\n    heartbeat_interval: 30s\n',
    );
    const config = loadConfig({
      env: {
        FLOORWATCH_CONFIG: path,
        FLOORWATCH_HTTP_PORT: '9100',
        FLOORWATCH_INFLUX_URL: 'http://127.0.0.1:8086/fw',
        FLOORWATCH_INGEST__MAX_CLOCK_SKEW: '2m',
        FLOORWATCH_INGEST__ACCEPT_UNDECLARED_DEVICES: 'false',
      },
      cwd: dir,
    });
    expect(config.http.port).toBe(9100);
    expect(config.storage.influx_url).toBe('http://127.0.0.1:8086/fw');
    expect(config.ingest.max_clock_skew).toBe('2m');
    expect(config.ingest.accept_undeclared_devices).toBe(false);
    expect(config.devices[0]).toMatchObject({ id: 't-1', kind: 'sensor', zone: 'floor-a', heartbeat_interval: '30s' });
  });

  it('bounds the known devices at 20,000 by default, and never below what the configuration names', () => {
    expect(loadConfig({ env: {}, cwd: dir }).limits.max_devices).toBe(20_000);
    expect(loadConfig({ env: { FLOORWATCH_LIMITS__MAX_DEVICES: '500' }, cwd: dir }).limits.max_devices).toBe(500);
    const path = file(
      'three.yaml',
      'zones:\n  - id: floor-a\ndevices:\n  - { id: t-1, kind: sensor }\n  - { id: t-2, kind: sensor }\nserial:\n  - { path: /dev/ttyUSB0, gateway: gw-1, devices: { t-3: floor-a } }\n',
    );
    expect(problems({ FLOORWATCH_CONFIG: path, FLOORWATCH_LIMITS__MAX_DEVICES: '3' })).toEqual([
      'limits.max_devices (found 3): is below the 4 devices and gateways the configuration names (under devices and serial): raise it to at least 4 [from FLOORWATCH_LIMITS__MAX_DEVICES]',
    ]);
    expect(problems({ FLOORWATCH_LIMITS__MAX_DEVICES: '100001' })[0]).toMatch(
      /^limits.max_devices \(found 100001\): must be a whole number from 1 to 100000/,
    );
  });

  it('names the field, the bad value and what is allowed', () => {
    const path = file(
      'bad.yaml',
      'zones:\n  - id: "floor a"\n    type: open_plan\ndevices:\n  - id: t-1\n    kind: toaster\n    zone: nowhere\n',
    );
    const found = problems({ FLOORWATCH_CONFIG: path });
    expect(found.find((p) => p.startsWith('zones.0.id'))).toMatch(/"floor a".*letters, digits/);
    expect(found.find((p) => p.startsWith('zones.0.type'))).toMatch(
      /"open_plan".*"call_floor", "quiet_room", "server_room"/,
    );
    expect(found.find((p) => p.startsWith('devices.0.kind'))).toMatch(/"toaster".*"phone"/);
  });

  it('refuses a device placed in a zone that is not declared', () => {
    const path = file(
      'zone.yaml',
      'zones:\n  - id: floor-a\ndevices:\n  - id: t-1\n    kind: sensor\n    zone: nowhere\n',
    );
    expect(problems({ FLOORWATCH_CONFIG: path })[0]).toMatch(
      /^devices\.0\.zone \(found "nowhere"\).*not under zones \(known: floor-a\)/,
    );
  });

  it('refuses silences without an end, of everything, of an unknown zone, or named twice', () => {
    const path = file(
      'silences.yaml',
      [
        'zones:\n  - id: floor-a',
        'silences:',
        '  - name: open-ended\n    matchers: { zone: floor-a }',
        '  - name: everything\n    matchers: {}\n    until: 2027-01-01T00:00:00Z',
        '  - name: elsewhere\n    matchers: { zone: nowhere }\n    until: 2027-01-01T00:00:00Z',
        '  - name: elsewhere\n    matchers: { rule: co2 }\n    from: 2027-01-02T00:00:00+01:00\n    until: 2027-01-01T00:00:00Z',
        '',
      ].join('\n'),
    );
    expect(problems({ FLOORWATCH_CONFIG: path }).map((p) => p.replace(/ \[in .*\]$/, ''))).toEqual([
      'silences.0.until: a silence that does not recur needs until: when it ends',
      'silences.1.matchers (found {}): needs at least one of zone, device, rule, severity, kind, key: a silence of everything is not allowed',
      'silences.3.until (found "2027-01-01T00:00:00Z"): must be after from',
      'silences.2.matchers.zone (found "nowhere"): names zone "nowhere", which is not under zones (known: floor-a)',
      'silences.3.name (found "elsewhere"): silence "elsewhere" is listed twice',
    ]);
  });

  it('refuses opening hours, holidays and time zones it cannot read, naming each field', () => {
    const path = file(
      'hours.yaml',
      [
        'site:',
        '  timezone: Mars/Olympus',
        '  hours: { mon-thu-fri: "08:00-20:00", sat: "9-5", sun: "10:00-10:00" }',
        '  holidays: ["2026-13-01"]',
        'zones:',
        '  - id: floor-a',
        '    hours: { funday: "08:00-20:00" }',
        '',
      ].join('\n'),
    );
    const found = problems({ FLOORWATCH_CONFIG: path }).join('\n');
    expect(found).toMatch(/site\.timezone \(found "Mars\/Olympus"\).*IANA time zone/);
    expect(found).toMatch(/site\.hours.*mon-thu-fri.*a day \(mon … sun\), a run of days/);
    expect(found).toMatch(/site\.hours\.sat \(found "9-5"\).*opening hours such as "08:00-20:00"/);
    expect(found).toMatch(/site\.hours\.sun \(found "10:00-10:00"\)/);
    expect(found).toMatch(/site\.holidays\.0 \(found "2026-13-01"\).*a date such as "2026-12-25"/);
    expect(found).toMatch(/zones\.0\.hours.*funday/);
  });

  it('refuses "__proto__" as a name anywhere in the file, where a mapping of names would drop it unseen', () => {
    const path = file(
      'proto.yaml',
      'site:\n  hours: { __proto__: "08:00-20:00", mon: "08:00-20:00" }\nserial:\n  - { path: /dev/ttyUSB0, gateway: gw-1, devices: { __proto__: floor-a } }\n',
    );
    expect(problems({ FLOORWATCH_CONFIG: path })).toEqual([
      expect.stringMatching(/^site\.hours\.__proto__ \[in .*proto\.yaml\]: "__proto__" is not a name/),
      expect.stringMatching(/^serial\.0\.devices\.__proto__ /),
    ]);
  });

  it('refuses to start on a holiday calendar it cannot read, naming the file', async () => {
    const { ruleSettings } = await import('../hub/rules/site.ts');
    const path = file('calendar.yaml', 'site:\n  holiday_calendar: ./no-such.ics\n');
    expect(() => ruleSettings(loadConfig({ env: { FLOORWATCH_CONFIG: path }, cwd: dir }))).toThrow(
      /site\.holiday_calendar: cannot read .*no-such\.ics/,
    );
  });

  it('says which variable holds a bad value', () => {
    expect(problems({ FLOORWATCH_MQTT_PORT: 'eighty' })[0]).toMatch(
      /^mqtt\.port \(found "eighty"\).*from FLOORWATCH_MQTT_PORT/,
    );
    expect(problems({ FLOORWATCH_INFLUX_URL: 'influx:8086' })[0]).toMatch(/storage\.influx_url.*database in the path/);
    expect(problems({ FLOORWATCH_INGEST__MAX_CLOCK_SKEW: 'soon' })[0]).toMatch(
      /ingest\.max_clock_skew \(found "soon"\).*duration/,
    );
    expect(problems({ FLOORWATCH_INGEST__MAX_CLOCK_SKEW: '2d' })[0]).toMatch(
      /ingest\.max_clock_skew \(found "2d"\): must be at most 1d/,
    );
  });

  it('refuses unknown fields, so a typo is not silently ignored', () => {
    const path = file('typo.yaml', 'http:\n  prot: 8080\n');
    expect(problems({ FLOORWATCH_CONFIG: path })[0]).toMatch(/http.*unknown field.*"prot"/);
  });

  it('refuses a floor plan that draws a zone the file does not list, or a point off the plan', () => {
    const path = file(
      'plan.yaml',
      [
        'zones:',
        '  - {id: floor-a}',
        'layout:',
        '  width: 20',
        '  height: 10',
        '  background: plan.pdf',
        '  zones:',
        '    floor-a: {rect: [0, 0, 25, 10]}',
        '    constructor: {polygon: [[0, 0], [1, 0], [1, 1]]}',
        '  positions:',
        '    A-01: [2, 11]',
        '',
      ].join('\n'),
    );
    expect(problems({ FLOORWATCH_CONFIG: path })).toEqual([
      expect.stringMatching(/^layout\.background \(found "plan\.pdf"\): must be an image file: \.svg, \.png/),
      expect.stringMatching(
        /^layout\.zones\.floor-a \(found \{"rect":\[0,0,25,10\]\}\): zone "floor-a" lies outside the plan \(0–20 × 0–10 m\) \[.*line 8\]$/,
      ),
      expect.stringMatching(
        /^layout\.zones\.constructor .*names zone "constructor", which is not under zones \(known: floor-a\)/,
      ),
      expect.stringMatching(/^layout\.positions\.A-01 \(found \[2,11\]\): position "A-01" lies outside the plan/),
    ]);
  });

  it('names a misspelt field on its own line with the nearest valid name, without the section around it', () => {
    const path = file(
      'typos.yaml',
      'zones:\n  - {id: a}\nstroage:\n  influx_url: http://x:8086/floor\n  sqlite: yes\n',
    );
    const found = problems({ FLOORWATCH_CONFIG: path });
    expect(found).toEqual([`unknown field "stroage": did you mean "storage"? [in ${path}, line 3]`]);
    // Nothing near enough: no guess, and nothing named like an object's own properties is offered.
    const far = file('far.yaml', 'constructor: 1\n');
    expect(problems({ FLOORWATCH_CONFIG: far })).toEqual([
      `unknown field "constructor": check the spelling [in ${far}, line 1]`,
    ]);
  });

  it('names a misspelt variable, not a field it invented, and the variable meant', () => {
    expect(problems({ FLOORWATCH_HTTP_PROT: '8080' })).toEqual([
      'FLOORWATCH_HTTP_PROT is not a variable floorwatch reads: did you mean FLOORWATCH_HTTP_PORT? (it would set http_prot, which does not exist)',
    ]);
    expect(problems({ FLOORWATCH_INGEST__MAX_CLOK_SKEW: '2m' })[0]).toMatch(
      /^FLOORWATCH_INGEST__MAX_CLOK_SKEW .*did you mean FLOORWATCH_INGEST__MAX_CLOCK_SKEW\?/,
    );
  });

  it('explains a file that cannot be read or parsed', () => {
    expect(problems({ FLOORWATCH_CONFIG: join(dir, 'missing.yaml') })[0]).toMatch(/cannot be read/);
    const broken = file('broken.yaml', 'zones: [\n');
    expect(problems({ FLOORWATCH_CONFIG: broken })[0]).toMatch(/not valid YAML/);
  });

  it('refuses the zone ids the hub uses for devices outside every zone and for its own alerts', () => {
    for (const id of ['unassigned', 'hub']) {
      const path = file(`${id}.yaml`, `zones:\n  - {id: floor-a}\n  - {id: ${id}}\n`);
      expect(problems({ FLOORWATCH_CONFIG: path })[0]).toMatch(new RegExp(`zones\\.1\\.id.*zone id "${id}" is taken`));
    }
  });

  it('refuses a device listed twice', () => {
    const path = file('twice.yaml', 'devices:\n  - {id: t-1, kind: sensor}\n  - {id: t-1, kind: phone}\n');
    expect(problems({ FLOORWATCH_CONFIG: path })[0]).toMatch(/devices\.1\.id.*listed twice/);
  });
});

describe('the example configuration', () => {
  it('is valid as shipped', () => {
    const config = loadConfig({ env: { FLOORWATCH_CONFIG: join(process.cwd(), 'floorwatch.example.yaml') }, cwd: dir });
    expect(config.zones.map((z) => z.id)).toEqual(['floor-a', 'quiet-1', 'server-room']);
    expect(config.devices.find((d) => d.id === 'pc-a17')?.heartbeat_interval).toBe('30s');
    // A copy starts without a warning on a machine without the example's serial adapter.
    expect(config.serial).toEqual([]);
  });
});

describe('YAML the loader will not guess at', () => {
  it('refuses unknown tags and directives instead of printing a warning', () => {
    const tagged = join(dir, 'tagged.yaml');
    writeFileSync(tagged, 'http:\n  port: !port 8080\n');
    expect(() => loadConfig({ env: { FLOORWATCH_CONFIG: tagged }, cwd: dir })).toThrow(/not valid YAML: .*tag/i);
  });

  it('refuses a cluster.forget_node_after short enough to forget a hub while it restarts', () => {
    const path = file('forget.yaml', 'cluster:\n  forget_node_after: 30s\n');
    expect(problems({ FLOORWATCH_CONFIG: path }).join('\n')).toMatch(
      /cluster\.forget_node_after.*must be at least "1m": a hub that restarts must not be forgotten meanwhile/,
    );
    expect(loadConfig({ env: {}, cwd: dir }).cluster.forget_node_after).toBe('7d');
  });
});
