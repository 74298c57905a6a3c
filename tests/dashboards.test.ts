// The Grafana dashboards: the committed files are what `npm run dashboards` generates, they are
// typed by the SDK, their bands come from the alert rules, and every InfluxQL query in them runs
// against a real influxd holding a simulated floor and returns rows.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultDashboard, VariableType, type Dashboard, type Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { DASHBOARD_DIR, generate, IMPORT_DIR } from '../dashboards/generate.ts';
import { loadConfig } from '../hub/config/config.ts';
import { touchedMinutes } from '../hub/store/minutes.ts';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { SteppedClock } from '../sensors-firmware-sim/clock.ts';
import { Floor } from '../sensors-firmware-sim/floor.ts';
import { parseFleet } from '../sensors-firmware-sim/fleet.ts';
import { hubDeclarations } from '../sensors-firmware-sim/hub-declarations.ts';
import { eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';

// eslint-disable-next-line @typescript-eslint/no-deprecated -- sites run v1 dashboards: Grafana's v2 schema needs Grafana 12 with a feature flag
type Board = Dashboard;

const MINUTE = 60_000;
const DASHBOARDS = join(import.meta.dirname, '..', 'dashboards');
const exampleConfig = () => loadConfig({ env: { FLOORWATCH_CONFIG: 'floorwatch.example.yaml' } });

/** The files generated for a site with this floorwatch.yaml. */
function generateFor(yaml: Record<string, unknown>) {
  const dir = tempDir('floorwatch-dashboards-');
  try {
    const file = join(dir, 'floorwatch.yaml');
    writeFileSync(file, stringify(yaml));
    return generate(loadConfig({ env: { FLOORWATCH_CONFIG: file } }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function committed(): Board[] {
  const dir = join(DASHBOARDS, DASHBOARD_DIR);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Board);
}

function panelsOf(d: Board): Panel[] {
  return (d.panels ?? []).filter((p): p is Panel => p.type !== 'row');
}

interface Target {
  query?: string;
  expr?: string;
  datasource?: { type?: string };
}

describe('generated dashboards', () => {
  it('match the committed files (regenerate with npm run dashboards)', () => {
    const files = generate(exampleConfig());
    for (const f of files) {
      let onDisk: string | undefined;
      try {
        onDisk = readFileSync(join(DASHBOARDS, f.path), 'utf8');
      } catch {
        onDisk = undefined;
      }
      expect(
        onDisk,
        `dashboards/${f.path} differs from what the code generates: run npm run dashboards and review the diff`,
      ).toBe(f.content);
    }
    const generated = files
      .filter((f) => f.path.startsWith(DASHBOARD_DIR))
      .map((f) => f.path.slice(DASHBOARD_DIR.length + 1));
    const onDisk = readdirSync(join(DASHBOARDS, DASHBOARD_DIR)).filter((f) => f.endsWith('.json'));
    expect(
      onDisk.sort(),
      `dashboards/${DASHBOARD_DIR} holds files the code no longer generates: run npm run dashboards`,
    ).toEqual(generated.sort());
    expect(readdirSync(join(DASHBOARDS, IMPORT_DIR)).sort()).toEqual(generated.sort());
  });

  it('import into any Grafana: the data source asked for once, then every query goes to it', () => {
    for (const d of committed()) {
      const kind = d.uid === 'floorwatch-hub' ? 'prometheus' : 'influxdb';
      const text = readFileSync(join(DASHBOARDS, IMPORT_DIR, `${d.uid}.json`), 'utf8');
      const exported = JSON.parse(text) as Board & { __inputs: Array<Record<string, string>>; __requires: unknown[] };
      const input = `DS_${kind.toUpperCase()}`;
      // And the database InfluxDB queries name, asked for with the provisioned one as default.
      const database = { name: 'VAR_DATABASE', type: 'constant', value: 'floorwatch' };
      expect(exported.__inputs.map((i) => ({ name: i['name'], type: i['type'], value: i['value'] }))).toEqual([
        { name: input, type: 'datasource', value: undefined },
        ...(kind === 'influxdb' ? [database] : []),
      ]);
      expect(exported.__inputs[0]).toMatchObject({ pluginId: kind });
      expect(exported.__requires).toEqual(
        expect.arrayContaining([expect.objectContaining({ type: 'datasource', id: kind })]),
      );
      // What Grafana's import does with the data source chosen: each ${DS_…} becomes its uid.
      const imported = JSON.parse(
        text.replaceAll(`\${${input}}`, 'site-data-source').replaceAll('${VAR_DATABASE}', 'floorwatch'),
      ) as Board;
      expect(imported.templating?.list?.[0]?.current).toMatchObject({ value: 'site-data-source' });
      // Otherwise the dashboard is the provisioned one: its queries go through the variable.
      const { __inputs, __requires, ...rest } = imported as typeof exported;
      expect([__inputs, __requires].every(Array.isArray)).toBe(true);
      expect({ ...rest, templating: { list: rest.templating?.list?.slice(1) } }).toEqual({
        ...d,
        templating: { list: d.templating?.list?.slice(1) },
      });
      expect(text).not.toContain(`floorwatch-${kind}`);
    }
  });

  it('use the SDK schema version and only panel types the SDK knows', () => {
    const known = new Set(
      [timeseries, stat, table, bargauge, statetimeline].map((m) => new m.PanelBuilder().build().type),
    );
    const boards = committed();
    expect(boards.map((d) => d.uid).sort()).toEqual([
      'floorwatch-alerts',
      'floorwatch-environment-summer',
      'floorwatch-environment-transition',
      'floorwatch-environment-winter',
      'floorwatch-equipment',
      'floorwatch-hub',
      'floorwatch-noise-exposure',
    ]);
    for (const d of boards) {
      expect(d.schemaVersion).toBe(defaultDashboard().schemaVersion);
      expect(new Set(d.panels?.map((p) => p.id)).size, `${d.title}: panel ids are unique`).toBe(d.panels?.length);
      for (const p of panelsOf(d)) {
        expect(known.has(p.type), `${d.title} / ${p.title}: ${p.type}`).toBe(true);
        expect(p.targets?.length, `${d.title} / ${p.title} has a query`).toBeGreaterThan(0);
      }
    }
  });

  it('draw the bands of the effective rules, overrides included', () => {
    const files = generateFor({
      site: { season: 'summer' },
      rules: { overrides: { co2: { warning: { above: 900 } } } },
      zones: [
        { id: 'floor-a' },
        { id: 'server-room', type: 'server_room', rules: { temperature: { critical: { above: 29 } } } },
      ],
    });
    const board = JSON.parse(files.find((f) => f.path.endsWith('/floorwatch-environment.json'))!.content) as Board;
    expect(board.title).toBe('Floor environment (summer)');
    const steps = (title: string) =>
      panelsOf(board)
        .find((p) => p.title === title)
        ?.fieldConfig?.defaults?.thresholds?.steps.map((s) => [s.value, s.color]);
    // Summer office temperature: critical below 20, warning below 22, warning above 26, critical above 28.
    expect(steps('Temperature — floor-a')).toEqual([
      [null, 'red'],
      [20, 'orange'],
      [22, 'green'],
      [26, 'orange'],
      [28, 'red'],
    ]);
    expect(steps('CO₂, 1-hour mean — floor-a')).toEqual([
      [null, 'green'],
      [900, 'orange'],
      [1500, 'red'],
    ]);
    expect(steps('Rack inlet temperature — server-room')).toEqual([
      [null, 'red'],
      [15, 'orange'],
      [18, 'green'],
      [27, 'orange'],
      [29, 'red'],
    ]);
  });

  it('refuse a configuration whose rules contradict each other, naming the zone', () => {
    expect(() =>
      generateFor({ zones: [{ id: 'floor-a', rules: { temperature: { critical: { above: 23 } } } }] }),
    ).toThrow(/zone floor-a .*critical above 23 is below warning above/);
  });
});

/** 09:00 UTC on the latest day whose morning has passed: the floor is occupied from the start. */
function morning(): number {
  const now = Date.now();
  let start = Math.floor(now / 86_400_000) * 86_400_000 + 9 * 60 * MINUTE;
  while (start > now - 3 * 60 * MINUTE) start -= 86_400_000;
  return start;
}

describe('on a simulated floor in InfluxDB', () => {
  const RUN_MINUTES = 130;
  const database = `dashboards_${process.pid}_${Date.now()}`;
  const start = morning();
  const range = { from: start, to: start + RUN_MINUTES * MINUTE };
  let hub: TestHub;
  let store: InfluxStore;

  async function influxql(q: string): Promise<{ rows: number; error?: string; values: unknown[] }> {
    const body = new URLSearchParams({ db: database, epoch: 'ms', q });
    const response = await fetch(`${inject('influxUrl')}/query`, { method: 'POST', body });
    const json = (await response.json()) as {
      error?: string;
      results?: Array<{ error?: string; series?: Array<{ values?: unknown[][] }> }>;
    };
    const result = json.results?.[0];
    const series = result?.series ?? [];
    const error = json.error ?? result?.error;
    return {
      rows: series.reduce((n, s) => n + (s.values?.length ?? 0), 0),
      values: series.flatMap((s) => s.values ?? []),
      ...(error !== undefined && { error }),
    };
  }

  /** Fills in what Grafana would: the time range, the interval and the template variables. */
  function interpolate(query: string, variables: Record<string, string>): string {
    const filled = query
      .replaceAll('$timeFilter', `time >= ${range.from}ms and time <= ${range.to}ms`)
      .replaceAll('${__from}', String(range.from))
      .replaceAll('${__to}', String(range.to))
      .replaceAll('$__interval', '1m')
      .replaceAll('$database', database)
      .replace(/\$([a-z]+)/g, (whole, name: string) => variables[name] ?? whole);
    expect(filled, 'every variable is filled in').not.toMatch(/\$[A-Za-z_{]/);
    return filled;
  }

  /** What the hub exported before it stopped. */
  let metricsText = '';

  beforeAll(async () => {
    const fleet = parseFleet({
      site: { season: 'winter', utc_offset: '+00:00' },
      zones: [
        { id: 'floor-a', type: 'call_floor', seats: 20, shifts: [{ start: '08:00', end: '18:00' }] },
        { id: 'quiet-1', type: 'quiet_room', seats: 4, shifts: [{ start: '08:00', end: '18:00' }] },
        { id: 'server-room', type: 'server_room' },
      ],
      sensors: [
        { id: 'env-a1', zone: 'floor-a', interval: '1m', heartbeat_interval: '5m' },
        { id: 'env-q1', zone: 'quiet-1', interval: '1m', heartbeat_interval: '5m' },
        { id: 'env-s1', zone: 'server-room', interval: '1m', heartbeat_interval: '5m' },
      ],
      devices: [{ id: 'hs-a{n}', count: 8, kind: 'headset', zone: 'floor-a', heartbeat_interval: '1m' }],
      scenarios: [
        { type: 'headset_faults', zone: 'floor-a', at: '10m', fraction: 0.5 },
        { type: 'noisy_shift', zone: 'quiet-1', at: '30m', extra_db: 25 },
        { type: 'cooling_failure', zone: 'server-room', at: '100m' },
      ],
    });
    const url = `${inject('influxUrl')}/${database}`;
    hub = await startTestHub({ influxUrl: url, config: hubDeclarations(fleet) });
    const clock = new SteppedClock(start);
    const floor = new Floor({ fleet, clock, url: hub.mqttUrl });
    try {
      floor.start();
      await floor.online();
      await clock.advanceTo(range.to - 1, () => floor.ready());
      await floor.delivered();
    } finally {
      await floor.stop();
    }
    store = new InfluxStore({ url });
    await eventually(
      async () =>
        (await store.count({ device: 'env-s1', metric: 'temperature', from: range.to - 2 * MINUTE, to: range.to })) > 0,
      { what: 'the last readings stored' },
    );
    // Alert history reaches the store through the hub's outbox, shortly after the readings.
    for (const zone of ['floor-a', 'quiet-1', 'server-room']) {
      await eventually(
        async () =>
          (await influxql(`SELECT count("alert_id") FROM "alert_history"."alerts" WHERE "zone" = '${zone}'`)).rows > 0,
        { what: `alerts of ${zone} stored`, timeoutMs: 30_000 },
      );
    }
    // A hub that stops rolls up the minutes still waiting (the last ones have barely closed).
    metricsText = await (await hub.api('/metrics')).text();
    await hub.stop();
    // Sensors here do not measure dew point, and an offline alert needs the hub's own clock to
    // pass: both are written the way the hub writes them, through the store.
    const temperature = await store.query({ device: 'env-s1', metric: 'temperature', from: range.from, to: range.to });
    const dewPoints = temperature.map((p) => ({
      device: 'env-s1',
      metric: 'dew_point',
      zone: 'server-room',
      ts: p.ts,
      value: Math.round((p.value - 12) * 10) / 10,
    }));
    await store.write(dewPoints);
    await store.rollUp(touchedMinutes(dewPoints));
    await store.writeAlertEvents([
      {
        alertId: 9001,
        key: 'offline.pc-a17',
        rule: 'offline',
        subject: 'pc-a17',
        zone: 'floor-a',
        event: 'firing',
        severity: 'warning',
        at: start + 60 * MINUTE,
        summary: 'pc-a17 in floor-a silent for 3 heartbeat intervals',
      },
    ]);
  }, 240_000);

  afterAll(async () => {
    await hub?.dispose();
  });

  const ALL = { zone: '.*', position: '.*', device: '.*' };

  it('every InfluxQL panel query returns rows', async () => {
    const empty: string[] = [];
    let checked = 0;
    for (const d of committed()) {
      for (const p of panelsOf(d)) {
        for (const t of (p.targets ?? []) as Target[]) {
          if (t.datasource?.type !== 'influxdb') continue;
          const result = await influxql(interpolate(t.query!, ALL));
          expect(result.error, `${d.title} / ${p.title}`).toBeUndefined();
          if (result.rows === 0) empty.push(`${d.title} / ${p.title}`);
          checked++;
        }
      }
    }
    expect(empty).toEqual([]);
    expect(checked).toBeGreaterThan(30);
  });

  it('the alert annotations on the environment panels return rows for every zone', async () => {
    for (const d of committed()) {
      for (const a of d.annotations.list ?? []) {
        const result = await influxql(interpolate((a.target as Target).query!, ALL));
        expect(result.error, `${d.title} / ${a.name}`).toBeUndefined();
        expect(result.rows, `${d.title} / ${a.name}`).toBeGreaterThan(0);
      }
    }
  });

  it('open alerts and devices offline now read the latest transition of each alert', async () => {
    const alerts = committed().find((d) => d.uid === 'floorwatch-alerts')!;
    const open = panelsOf(alerts).find((p) => p.title === 'Open alerts')!;
    const rows = (await influxql(interpolate((open.targets![0] as Target).query!, ALL))).values as string[][];
    // Columns: time, zone, subject, rule, severity, event, summary.
    expect(rows.every((r) => r[5] !== 'resolved')).toBe(true);
    expect(rows.some((r) => r[2] === 'pc-a17' && r[3] === 'offline')).toBe(true);
    const equipment = committed().find((d) => d.uid === 'floorwatch-equipment')!;
    const offline = panelsOf(equipment).find((p) => p.title === 'Devices offline now')!;
    expect((await influxql(interpolate((offline.targets![0] as Target).query!, ALL))).values).toEqual([[0, 1]]);
  });

  it('template variables resolve to the zones and positions of the floor, queried from the data source the dashboard is set to', async () => {
    const values = new Map<string, string[]>();
    for (const d of committed()) {
      const [source, ...queried] = d.templating.list ?? [];
      // First, the data source every query of the board goes to: the provisioned one unless a site picks its own.
      const kind = d.uid === 'floorwatch-hub' ? 'prometheus' : 'influxdb';
      expect(source).toMatchObject({
        type: 'datasource',
        name: kind,
        query: kind,
        current: { value: `floorwatch-${kind}` },
      });
      const json = JSON.stringify(d);
      const refs = [...json.matchAll(/"datasource":\{"type":"([a-z]+)","uid":"([^"]*)"\}/g)];
      expect(refs.length).toBeGreaterThan(0);
      expect(refs).toHaveLength(json.split('"datasource":').length - 1);
      for (const [, type, uid] of refs) expect([type, uid]).toEqual([kind, `\${${kind}}`]);
      for (const v of queried) {
        if (v.type === VariableType.Constant) {
          expect([v.name, v.query]).toEqual(['database', 'floorwatch']);
          continue;
        }
        if (typeof v.query !== 'string') throw new Error(`${d.title} / $${v.name} has no InfluxQL query`);
        // A variable's list follows the variables before it (devices the zones chosen): all of them here.
        const result = await influxql(interpolate(v.query, ALL));
        expect(result.error, `${d.title} / $${v.name}`).toBeUndefined();
        values.set(
          v.name,
          (result.values as string[][]).map((row) => row[1]!),
        );
      }
    }
    expect(values.get('zone')).toEqual(expect.arrayContaining(['floor-a', 'quiet-1', 'server-room']));
    expect(values.get('position')).toEqual(expect.arrayContaining(['env-a1', 'env-q1']));
    expect(values.get('device')).toEqual(expect.arrayContaining(['env-a1', 'env-q1', 'env-s1']));
    // The devices of the zone chosen, and the environment panels follow zone and device.
    const winter = committed().find((d) => d.uid === 'floorwatch-environment-winter')!;
    const devices = winter.templating?.list?.find((v) => v.name === 'device')?.query as string;
    const inQuiet = await influxql(interpolate(devices, { zone: 'quiet-1' }));
    // One row per measurement that has the tag; Grafana lists each value once.
    expect(new Set((inQuiet.values as string[][]).map((row) => row[1]))).toEqual(new Set(['env-q1']));
    const temperature = panelsOf(winter).find((p) => p.title === 'Temperature — floor-a')!;
    const query = (temperature.targets![0] as Target).query!;
    expect((await influxql(interpolate(query, { zone: '.*', device: 'env-a1' }))).rows).toBeGreaterThan(0);
    expect((await influxql(interpolate(query, { zone: '.*', device: 'env-q1' }))).rows).toBe(0);
    expect((await influxql(interpolate(query, { zone: 'quiet-1', device: '.*' }))).rows).toBe(0);
    // One value chosen: the panels follow it.
    const noise = committed().find((d) => d.uid === 'floorwatch-noise-exposure')!;
    const lex = panelsOf(noise).find((p) => p.title === 'LEX,8h per position — quiet-1')!;
    const one = await influxql(interpolate((lex.targets![0] as Target).query!, { position: 'env-q1' }));
    expect(one.rows).toBe(1);
    // A quiet room 25 dB louder than usual for most of the run: its LEX,8h is well above the 40 dB(A) room limit.
    expect((one.values[0] as number[])[1]).toBeGreaterThan(40);
  });

  it('the hub internals panels name metrics the hub exports', async () => {
    const exported = new Set([...metricsText.matchAll(/^# TYPE (\S+) (\w+)/gm)].map((m) => m[1]!));
    const hubBoard = committed().find((d) => d.uid === 'floorwatch-hub')!;
    const used = panelsOf(hubBoard).flatMap((p) =>
      (p.targets as Target[]).flatMap((t) =>
        [...t.expr!.matchAll(/floorwatch_[a-z_]+/g)].map((m) => m[0].replace(/_bucket$/, '')),
      ),
    );
    expect(used.length).toBeGreaterThan(5);
    for (const name of used) expect(exported.has(name), name).toBe(true);
  });
});
