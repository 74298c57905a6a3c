// Shift handover and equipment reports on known data, against figures worked out here from the
// raw numbers: on both stores (SQLite and a real influxd) through the report builders, and end to
// end through a real hub (MQTT in, alerts fired and acknowledged, JSON, HTML and the CLI out).
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../hub/config/config.ts';
import type { Reading } from '../hub/domain/reading.ts';
import { toCsv } from '../hub/reports/csv.ts';
import { equipmentReport, type EquipmentReport } from '../hub/reports/equipment.ts';
import { layoutHtml } from '../hub/reports/html.ts';
import { faultName, incidents } from '../hub/reports/incidents.ts';
import { shiftLayout } from '../hub/reports/layout.ts';
import { alertHistory, shiftReport, type ShiftReport } from '../hub/reports/shift.ts';
import { siteRules } from '../hub/rules/site.ts';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import type { AlertRecord, Store } from '../hub/store/store.ts';
import { eventually, startTestHub, storeCaughtUp, tempDir, testEnv, type TestHub } from './support/hub.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const HOSTILE_NAME = 'Floor <A> & "B"';
const dirs: string[] = [];
const dir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const SITE = { site: { season: 'winter' }, zones: [{ id: 'floor-a', name: HOSTILE_NAME, type: 'call_floor' }] };

// Independent arithmetic, straight from ENVIRONMENT.md.
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const laeq = (levels: number[]) => 10 * Math.log10(mean(levels.map((l) => 10 ** (l / 10))));
const lex = (level: number, spanMs: number) => 10 * Math.log10(((spanMs / HOUR) * 10 ** (level / 10)) / 8);
const dose = (lexValue: number) => 100 * 10 ** ((lexValue - 85) / 10);

describe.each([
  [
    'SQLite',
    async () => ({ store: new SqliteStore({ path: join(dir(), 'readings.sqlite'), rawRetentionMs: 30 * 24 * HOUR }) }),
  ],
  [
    'InfluxDB',
    async () => {
      const database = `fw_reports_${process.pid}_${Date.now().toString(36)}`;
      const drop = async () =>
        void (
          await fetch(`${inject('influxUrl')}/query`, {
            method: 'POST',
            body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }),
          })
        ).arrayBuffer();
      return { store: new InfluxStore({ url: `${inject('influxUrl')}/${database}` }), drop };
    },
  ],
] as [string, () => Promise<{ store: Store; drop?: () => Promise<void> }>][])('reports on %s', (_name, open) => {
  // A 4-hour span starting on a clock hour, a day ago (inside InfluxDB's raw retention).
  const F = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
  const T = F + 4 * HOUR;
  const at = (k: number) => F + k * 30 * MIN;
  const series = {
    'env-a1': {
      temperature: [21, 22, 23, 25, 22, 21, 20, 22],
      humidity: [40, 45, 50, 55, 62, 50, 45, 40],
      co2: [800, 900, 1100, 1300, 900, 700, 600, 600],
      noise: [60, 70, 60, 70, 60, 70, 60, 70],
    },
    'env-a2': { temperature: [20, 20, 20, 20, 20, 20, 20, 17], noise: [50, 50, 50, 50, 50, 50, 50, 50] },
  } as const;
  const summary = (device: string, what: string) => `headset ${device} in floor-a: ${what}`;
  const alert = (
    alertId: number,
    key: string,
    event: string,
    atMs: number,
    severity: 'warning' | 'critical',
    text: string,
    zone = 'floor-a',
  ): AlertRecord => {
    const [rule, subject] = [key.slice(0, key.lastIndexOf('.')), key.slice(key.lastIndexOf('.') + 1)];
    return { alertId, key, rule, subject, zone, event, severity, at: atMs, summary: text };
  };
  const history: AlertRecord[] = [
    alert(1, 'co2.env-a1', 'firing', F + HOUR, 'warning', 'CO₂ 1-hour mean 1200 ppm'),
    alert(1, 'co2.env-a1', 'acknowledged', F + 70 * MIN, 'warning', 'CO₂ 1-hour mean 1200 ppm'),
    alert(1, 'co2.env-a1', 'resolved', F + 2 * HOUR, 'warning', 'CO₂ 1-hour mean 1200 ppm'),
    alert(2, 'offline.ph-1', 'firing', F - HOUR, 'warning', 'phone ph-1 is offline'),
    alert(2, 'offline.ph-1', 'resolved', F + 30 * MIN, 'warning', 'phone ph-1 is offline'),
    alert(
      3,
      'equipment.headset.hs-1',
      'firing',
      F + 2 * HOUR,
      'critical',
      summary('hs-1', 'headset fault: call drop-outs'),
    ),
    alert(
      3,
      'equipment.headset.hs-1',
      'resolved',
      F + 140 * MIN,
      'critical',
      summary('hs-1', 'headset fault: call drop-outs'),
    ),
    alert(
      4,
      'equipment.headset.hs-1',
      'firing',
      F + 3 * HOUR,
      'warning',
      summary('hs-1', 'headset degraded: call noise'),
    ),
    alert(
      5,
      'equipment.headset.hs-2',
      'firing',
      F + 150 * MIN,
      'critical',
      summary('hs-2', 'headset fault: call drop-outs'),
    ),
    alert(
      5,
      'equipment.headset.hs-2',
      'resolved',
      F + 210 * MIN,
      'critical',
      summary('hs-2', 'headset fault: call drop-outs'),
    ),
    alert(6, 'offline.ph-2', 'firing', F - 3 * HOUR, 'warning', 'phone ph-2 is offline'),
    alert(6, 'offline.ph-2', 'resolved', F - 2 * HOUR, 'warning', 'phone ph-2 is offline'),
    alert(7, 'storage_down.hub', 'firing', F + 230 * MIN, 'critical', `<b>disk</b> & 'x' "y"`, 'hub'),
    // After the span: not part of it.
    alert(
      4,
      'equipment.headset.hs-1',
      'resolved',
      T + 5 * MIN,
      'warning',
      summary('hs-1', 'headset degraded: call noise'),
    ),
  ];

  let store: Store;
  let drop: (() => Promise<void>) | undefined;
  let report: ShiftReport;
  beforeAll(async () => {
    ({ store, drop } = await open());
    await store.init();
    const readings: Reading[] = [];
    for (const [device, metrics] of Object.entries(series)) {
      for (const [metric, values] of Object.entries(metrics) as [string, readonly number[]][])
        values.forEach((value, k) => readings.push({ device, metric, value, ts: at(k), zone: 'floor-a' }));
    }
    await store.write(readings);
    await store.writeAlertEvents(history);
    const config = loadConfig({ env: testEnv(dir(), { config: SITE }) });
    // Both stores keep 30 days of raw readings.
    report = await shiftReport(store, (at) => siteRules(config, at), F, T, Date.now() - 30 * 24 * HOUR);
  });
  afterAll(async () => {
    await store?.close();
    await drop?.();
  });

  it('gives min / mean / max temperature and humidity and the highest clock-hour CO₂ mean per zone', () => {
    const temps = [...series['env-a1'].temperature, ...series['env-a2'].temperature];
    const zone = report.zones.find((z) => z.zone === 'floor-a')!;
    expect(zone.name).toBe(HOSTILE_NAME);
    expect(zone.temperature!.min).toBe(17);
    expect(zone.temperature!.max).toBe(25);
    expect(zone.temperature!.mean).toBeCloseTo(mean(temps), 9);
    expect(zone.humidity!.mean).toBeCloseTo(mean([...series['env-a1'].humidity]), 9);
    const co2 = series['env-a1'].co2;
    const hourly = [0, 1, 2, 3].map((h) => mean([co2[2 * h]!, co2[2 * h + 1]!]));
    expect(zone.co2MaxHourlyMean).toEqual({ value: Math.max(...hourly), hour: F + HOUR });
  });

  it('judges time within requirements on the rule engine’s own limits and windows', () => {
    const zone = report.zones.find((z) => z.zone === 'floor-a')!;
    const percent = (key: string) => zone.compliance.find((c) => c.requirement === key);
    // Winter office: temperature 18–24 °C; one reading at 25 and one at 17 of 16.
    expect(percent('temperature')).toMatchObject({ readings: 16, percentWithin: (100 * 14) / 16 });
    // Humidity 30–60 %RH: 62 is out.
    expect(percent('humidity')).toMatchObject({ readings: 8, percentWithin: (100 * 7) / 8 });
    // CO₂ warns on the 1-hour mean above 1000: the second hour (1100, 1300) is out.
    expect(percent('co2')).toMatchObject({ readings: 8, percentWithin: (100 * 6) / 8 });
    // Call-floor noise warns on the 15-minute LAeq of the zone above 65.
    const a1 = series['env-a1'].noise;
    const a2 = series['env-a2'].noise;
    const outWindows = a1.filter((l, k) => laeq([l, a2[k]!]) > 65).length;
    expect(outWindows).toBe(4);
    expect(percent('noise')).toMatchObject({ readings: 16, percentWithin: (100 * (16 - 2 * outWindows)) / 16 });
    expect(zone.compliance.map((c) => c.requirement).sort()).toEqual(['co2', 'humidity', 'noise', 'temperature']);
  });

  it('gives LAeq, LEX,8h and dose per position', () => {
    const a1 = laeq([...series['env-a1'].noise]);
    expect(a1).toBeCloseTo(67.4, 1);
    const position = report.positions.find((p) => p.device === 'env-a1')!;
    expect(position.laeq).toBeCloseTo(a1, 6);
    expect(position.lex8h).toBeCloseTo(lex(a1, T - F), 6);
    expect(position.dosePercent).toBeCloseTo(dose(lex(a1, T - F)), 6);
    expect(report.positions.find((p) => p.device === 'env-a2')!.lex8h).toBeCloseTo(lex(50, T - F), 6);
    expect(report.notes.join(' ')).toContain('room meter is a proxy');
  });

  it('counts alerts fired, acknowledged and still open, with durations; offline devices and faults', () => {
    expect(report.alerts).toMatchObject({ fired: 5, acknowledged: 1, open: 2 });
    expect(report.alerts.list.map((a) => [a.alertId, a.durationMs, a.open])).toEqual([
      [2, 90 * MIN, false],
      [1, HOUR, false],
      [3, 20 * MIN, false],
      [5, HOUR, false],
      [4, HOUR, true],
      [7, 10 * MIN, true],
    ]);
    expect(report.offline).toEqual([
      { device: 'ph-1', zone: 'floor-a', since: F - HOUR, back: F + 30 * MIN, offlineMs: 30 * MIN },
    ]);
    expect(report.faults.map((f) => [f.device, f.fault, f.severity, f.durationMs])).toEqual([
      ['hs-1', 'headset: call drop-outs', 'critical', 20 * MIN],
      ['hs-2', 'headset: call drop-outs', 'critical', HOUR],
      ['hs-1', 'headset: call noise', 'warning', HOUR],
    ]);
  });

  it('gives availability, incidents, MTTR and frequent faults per device and per kind', async () => {
    const known = [
      { id: 'hs-1', kind: 'headset', zone: 'floor-a' },
      { id: 'hs-2', kind: 'headset', zone: 'floor-a' },
      { id: 'hs-3', kind: 'headset', zone: 'floor-a' },
      { id: 'ph-1', kind: 'phone', zone: 'floor-a' },
    ];
    const r: EquipmentReport = equipmentReport(await alertHistory(store, F, T), known, F, T);
    const span = T - F;
    const device = (id: string) => r.devices.find((d) => d.device === id)!;
    // Down while a fault (critical) or an offline alert is open; degraded counts as an incident only.
    expect(device('hs-1')).toMatchObject({
      incidents: 2,
      downtimeMs: 20 * MIN,
      mttrMs: 20 * MIN,
      availabilityPercent: (100 * (span - 20 * MIN)) / span,
    });
    expect(device('hs-1').faults).toEqual([
      { fault: 'headset: call drop-outs', count: 1 },
      { fault: 'headset: call noise', count: 1 },
    ]);
    expect(device('hs-2')).toMatchObject({ incidents: 1, mttrMs: HOUR, availabilityPercent: 75 });
    expect(device('hs-3')).toMatchObject({ incidents: 0, mttrMs: null, availabilityPercent: 100 });
    // ph-1 was offline from before the span: 30 minutes down inside it, 90 minutes to repair.
    expect(device('ph-1')).toMatchObject({
      incidents: 1,
      downtimeMs: 30 * MIN,
      mttrMs: 90 * MIN,
      availabilityPercent: 87.5,
    });
    expect(r.devices.map((d) => d.device)).toEqual(['hs-1', 'hs-2', 'hs-3', 'ph-1']);
    const headsets = r.kinds.find((k) => k.kind === 'headset')!;
    expect(headsets).toMatchObject({ devices: 3, incidents: 3, mttrMs: (20 * MIN + HOUR) / 2, downtimeMs: 80 * MIN });
    expect(headsets.availabilityPercent).toBeCloseTo((100 * (3 * span - 80 * MIN)) / (3 * span), 9);
    expect(r.faults).toEqual([
      { fault: 'headset: call drop-outs', count: 2 },
      { fault: 'headset: call noise', count: 1 },
    ]);
  });

  it('writes CSV a spreadsheet reads as text: quotes doubled, formulas not run', () => {
    expect(
      toCsv(
        ['device', 'fault'],
        [
          ['hs-1', '=HYPERLINK("http://x","y")'],
          ['hs-2', 'noise, then "drop-outs"'],
          ['hs-3', null],
        ],
      ),
    ).toBe('device,fault\r\nhs-1,"\'=HYPERLINK(""http://x"",""y"")"\r\nhs-2,"noise, then ""drop-outs"""\r\nhs-3,\r\n');
  });

  it('prints as HTML with every value from data escaped', () => {
    const html = layoutHtml(shiftLayout(report));
    expect(html).toContain('Floor &lt;A&gt; &amp; &quot;B&quot; (floor-a)');
    expect(html).toContain('&lt;b&gt;disk&lt;/b&gt; &amp; &#39;x&#39; &quot;y&quot;');
    expect(html).not.toContain('<b>disk');
    expect(html).not.toContain('<A>');
  });
});

describe('acoustic incidents in the reports', () => {
  it('lists each with position, time and level in the shift report, and counts it against the headset without downtime', async () => {
    const { equipmentReport } = await import('../hub/reports/equipment.ts');
    const history = incidents(
      [
        {
          alertId: 3,
          key: 'acoustic_shock.hs-4',
          rule: 'acoustic_shock',
          subject: 'hs-4',
          zone: 'floor-a',
          event: 'firing',
          severity: 'critical',
          at: 1000,
          summary: 'acoustic shock at headset hs-4',
          value: 112.4,
        },
        { ...base(3), event: 'resolved', at: 2000 },
      ],
      0,
      10_000,
    );
    function base(id: number) {
      return {
        alertId: id,
        key: 'acoustic_shock.hs-4',
        rule: 'acoustic_shock',
        subject: 'hs-4',
        zone: 'floor-a',
        severity: 'critical' as const,
        summary: '',
      };
    }
    expect(history[0]).toMatchObject({ value: 112.4, resolvedAt: 2000 });
    const record = equipmentReport(history, [{ id: 'hs-4', kind: 'headset', zone: 'floor-a' }], 0, 10_000);
    expect(record.devices[0]).toMatchObject({
      device: 'hs-4',
      incidents: 1,
      downtimeMs: 0,
      faults: [{ fault: 'headset: acoustic shock', count: 1 }],
    });
  });
});

describe('fault names from equipment alerts', () => {
  it('names the component and what its code means, or its state when there is no code', () => {
    const fired = (rule: string, text: string, code?: string) =>
      incidents(
        [
          {
            alertId: 1,
            key: `${rule}.x-1`,
            rule,
            subject: 'x-1',
            zone: 'floor-a',
            event: 'firing',
            severity: 'critical',
            at: 0,
            summary: text,
            ...(code !== undefined && { code }),
          },
        ],
        0,
        1,
      )[0]!;
    expect(faultName(fired('equipment.headset', 'headset x-1 in floor-a: headset fault: call drop-outs'))).toBe(
      'headset: call drop-outs',
    );
    expect(faultName(fired('equipment.headset', 'headset x-1 in floor-a: headset degraded'))).toBe('headset: degraded');
    expect(faultName(fired('equipment', 'pc x-1 in floor-a: reports fault'))).toBe('device: reports fault');
    // With its code kept, the summary's wording does not matter.
    expect(faultName(fired('equipment.headset', 'anything: at all: said', 'dropout'))).toBe('headset: call drop-outs');
    expect(faultName(fired('equipment.pc', 'pc x-1: pc fault', 'psu_failed'))).toBe('pc: psu_failed');
  });
});

describe('reports through a running hub', () => {
  // Two hours starting on a clock hour, a day ago; the hub's clock walks through them.
  const F = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
  const T = F + 2 * HOUR;
  let t = F - 5 * MIN;
  let hub: TestHub;
  const a1 = {
    temperature: [21, 22, 23, 22],
    humidity: [40, 45, 50, 55],
    co2: [700, 800, 900, 950],
    noise: [60, 62, 64, 58],
  };
  const a2 = { temperature: [20, 21, 22, 23], noise: [50, 52, 54, 56] };

  async function send(
    device: string,
    kind: 'telemetry' | 'heartbeat' | 'status',
    body: unknown,
    retain = false,
  ): Promise<void> {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: `${device}-${kind}-${t}` });
    await client.publishAsync(
      `floorwatch/devices/${device}/${kind}`,
      typeof body === 'string' ? body : JSON.stringify(body),
      { qos: 1, retain },
    );
    await client.endAsync();
  }
  const firing = async (key: string) =>
    (await hub.json<{ alerts: { id: number; key: string; state: string }[] }>('/api/v1/alerts')).alerts.find(
      (a) => a.key === key && a.state === 'firing',
    );
  const headset = (state: 'ok' | 'fault') => ({
    ts: t,
    kind: 'headset',
    status: state,
    components: { headset: { state, ...(state === 'fault' && { code: 'dropout' }) } },
  });

  beforeAll(async () => {
    const devices = [
      ...['env-a1', 'env-a2'].map((id) => ({ id, kind: 'sensor', zone: 'floor-a', heartbeat_interval: '1h' })),
      { id: 'hs-1', kind: 'headset', zone: 'floor-a', heartbeat_interval: '1h' },
      { id: 'ph-1', kind: 'phone', zone: 'floor-a', heartbeat_interval: '1h' },
    ];
    hub = await startTestHub({ now: () => t, config: { ...SITE, devices } });
    for (let k = 0; k < 4; k++) {
      t = F + k * 30 * MIN;
      await send('env-a1', 'telemetry', {
        ts: t,
        temperature: a1.temperature[k],
        humidity: a1.humidity[k],
        co2: a1.co2[k],
        noise: a1.noise[k],
      });
      await send('env-a2', 'telemetry', { ts: t, temperature: a2.temperature[k], noise: a2.noise[k] });
      if (k === 0) await send('hs-1', 'heartbeat', headset('ok'));
      if (k === 1) {
        await send('hs-1', 'heartbeat', headset('fault'));
        const fault = await eventually(() => firing('equipment.headset.hs-1'), { what: 'the headset fault alert' });
        t = F + 40 * MIN;
        const ack = await hub.api(`/api/v1/alerts/${fault.id}/ack`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ by: 'li.wei', comment: 'spare headset issued' }),
        });
        expect(ack.status).toBe(200);
      }
      if (k === 2) {
        await send('hs-1', 'heartbeat', headset('ok'));
        // The phone's last will: offline from now until two fresh messages arrive.
        await send('ph-1', 'status', 'offline', true);
        await eventually(() => firing('offline.ph-1'), { what: 'the phone offline alert' });
      }
      if (k === 3) {
        await send('ph-1', 'heartbeat', { ts: t, kind: 'phone', status: 'ok' });
        t += MIN;
        await send('ph-1', 'heartbeat', { ts: t, kind: 'phone', status: 'ok' });
      }
    }
    t = T + MIN;
  });
  afterAll(async () => {
    await hub?.dispose();
  });

  const shift = async (): Promise<ShiftReport> => {
    await storeCaughtUp(hub);
    return eventually(
      async () => {
        const r = await hub.json<ShiftReport>(`/api/v1/reports/shift?from=${F}&to=${T}`);
        // The alert history reaches the store through the outbox: wait for both resolutions.
        return r.alerts.list.length === 2 && r.alerts.open === 0 && r.positions.length === 2 ? r : undefined;
      },
      { what: 'the alert history in the store' },
    );
  };

  it('serves the shift report as JSON with the figures of the readings sent', async () => {
    const r = await shift();
    const zone = r.zones.find((z) => z.zone === 'floor-a')!;
    const temps = [...a1.temperature, ...a2.temperature];
    expect(zone.temperature).toEqual({
      min: Math.min(...temps),
      mean: expect.closeTo(mean(temps), 9) as unknown,
      max: Math.max(...temps),
    });
    expect(zone.humidity).toEqual({ min: 40, mean: expect.closeTo(mean(a1.humidity), 9) as unknown, max: 55 });
    expect(zone.co2MaxHourlyMean).toEqual({ value: mean([900, 950]), hour: F + HOUR });
    expect(zone.compliance.map((c) => [c.requirement, c.readings, c.percentWithin])).toEqual([
      ['temperature', 8, 100],
      ['humidity', 4, 100],
      ['co2', 4, 100],
      ['noise', 8, 100],
    ]);
    const position = r.positions.find((p) => p.device === 'env-a1')!;
    expect(position.laeq).toBeCloseTo(laeq(a1.noise), 6);
    expect(position.lex8h).toBeCloseTo(lex(laeq(a1.noise), 2 * HOUR), 6);
    expect(r.alerts).toMatchObject({ fired: 2, acknowledged: 1, open: 0 });
    const fault = r.alerts.list.find((a) => a.rule === 'equipment.headset')!;
    expect(fault).toMatchObject({
      subject: 'hs-1',
      severity: 'critical',
      firingAt: F + 30 * MIN,
      acknowledgedAt: F + 40 * MIN,
      resolvedAt: F + HOUR,
      durationMs: 30 * MIN,
    });
    expect(r.faults).toEqual([
      expect.objectContaining({ device: 'hs-1', fault: 'headset: call drop-outs', durationMs: 30 * MIN }),
    ]);
    expect(r.offline).toEqual([
      { device: 'ph-1', zone: 'floor-a', since: F + HOUR, back: F + 91 * MIN, offlineMs: 31 * MIN },
    ]);
  });

  it('serves the equipment report: availability, incidents and MTTR per device and kind', async () => {
    await shift();
    const r = await hub.json<EquipmentReport>(`/api/v1/reports/equipment?from=${F}&to=${T}`);
    const device = (id: string) => r.devices.find((d) => d.device === id)!;
    expect(device('hs-1')).toMatchObject({ kind: 'headset', incidents: 1, mttrMs: 30 * MIN, availabilityPercent: 75 });
    expect(device('ph-1')).toMatchObject({ kind: 'phone', incidents: 1, mttrMs: 31 * MIN });
    expect(device('ph-1').availabilityPercent).toBeCloseTo((100 * (120 - 31)) / 120, 9);
    expect(device('env-a1')).toMatchObject({ kind: 'sensor', incidents: 0, availabilityPercent: 100, mttrMs: null });
    expect(r.kinds.find((k) => k.kind === 'sensor')).toMatchObject({ devices: 2, availabilityPercent: 100 });
    expect(r.faults).toEqual([{ fault: 'headset: call drop-outs', count: 1 }]);
  });

  it('serves the equipment report as CSV for a spreadsheet and as printable HTML, and prints it on the command line', async () => {
    await shift();
    const csv = await hub.api(`/api/v1/reports/equipment?from=${F}&to=${T}&format=csv`);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    expect(csv.headers.get('content-disposition')).toBe(`attachment; filename="equipment-${day(F)}-${day(T)}.csv"`);
    const lines = (await csv.text()).split('\r\n');
    expect(lines[0]).toBe(
      'device,kind,zone,availability_percent,downtime_minutes,incidents,mean_time_to_repair_minutes,faults,battery_percent,rssi_dbm,firmware,from,to',
    );
    const span = `${new Date(F).toISOString()},${new Date(T).toISOString()}`;
    expect(lines).toContain(`hs-1,headset,floor-a,75,30,1,30,headset: call drop-outs×1,,,,${span}`);
    expect(lines).toContain(`env-a1,sensor,floor-a,100,0,0,,,,,,${span}`);
    expect(lines.at(-1)).toBe('');

    const html = await (await hub.api(`/api/v1/reports/equipment?from=${F}&to=${T}&format=html`)).text();
    expect(html).toContain('Equipment record');
    expect(html).toContain('headset: call drop-outs ×1');

    const run = (args: string[]) =>
      promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'hub/cli/main.ts', 'equipment-report', '--url', hub.hub.url, ...args],
        { env: { ...process.env, FLOORWATCH_LOG_LEVEL: 'silent' } },
      );
    const text = (await run(['--from', String(F), '--to', String(T)])).stdout;
    expect(text).toContain('Equipment record');
    expect(text).toMatch(/hs-1\s+headset\s+floor-a\s+75\.00 %\s+30 min\s+1\s+30 min\s+headset: call drop-outs ×1/);
    expect((await run(['--from', String(F), '--to', String(T), '--csv'])).stdout).toContain(
      `hs-1,headset,floor-a,75,30,1,30,headset: call drop-outs×1,,,,${span}`,
    );
    const both = await run(['--csv', '--json']).then(
      () => undefined,
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(both?.code).toBe(2);
    expect(both?.stderr).toContain('give one of --json, --html, --csv');
  });

  it('serves printable HTML for a browser, with data escaped', async () => {
    await shift();
    for (const request of [
      hub.api(`/api/v1/reports/shift?from=${F}&to=${T}`, { headers: { accept: 'text/html,application/xhtml+xml' } }),
      hub.api(`/api/v1/reports/shift?from=${F}&to=${T}&format=html`),
    ]) {
      const res = await request;
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      const html = await res.text();
      expect(html).toContain('Floor &lt;A&gt; &amp; &quot;B&quot;');
      expect(html).not.toContain('<A>');
      expect(html).toContain('headset: call drop-outs');
      expect(html).not.toContain('<script');
    }
  });

  it('refuses a bad span or format with a reason', async () => {
    const cases: [string, string][] = [
      [`from=${T}&to=${F}`, 'must be before to'],
      [`from=yesterday`, 'from="yesterday" is not a time'],
      [`from=${F - 30 * 24 * HOUR}&to=${T}`, 'at most 7 days'],
      [`format=pdf`, 'format="pdf" is not one of json, html'],
    ];
    for (const [query, message] of cases) {
      const res = await hub.api(`/api/v1/reports/shift?${query}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toContain(message);
    }
  });

  it('prints the handover on the command line', async () => {
    await shift();
    const run = (args: string[]) =>
      promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'hub/cli/main.ts', 'shift-report', '--url', hub.hub.url, ...args],
        { env: { ...process.env, FLOORWATCH_LOG_LEVEL: 'silent' } },
      );
    const { stdout } = await run(['--from', String(F), '--to', String(T)]);
    expect(stdout).toContain('Shift handover');
    expect(stdout).toContain(`${HOSTILE_NAME} (floor-a)`);
    expect(stdout).toMatch(/env-a1\s+floor-a\s+61\.\d dB\(A\)/);
    expect(stdout).toContain('headset: call drop-outs');
    expect(stdout).toContain('Alerts: 2 fired, 1 acknowledged, 0 still open.');
    expect(stdout).toContain('room meter is a proxy');
    const refused = await run(['--from', String(T), '--to', String(F)]).then(
      () => undefined,
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(refused?.code).toBe(2);
    expect(refused?.stderr).toContain('the hub refused the report (400): from');
  });
});
