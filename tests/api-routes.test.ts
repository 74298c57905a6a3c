// The API's routes on real parts in memory (tests/support/api.ts), through app.inject: what each
// answers is exactly what the domain produced (a response schema that left a field out would
// fail here), every refusal is a 400 that names the parameter and says what it takes, and hostile
// input in any parameter is refused or answered as the plain name it is, changing nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ms } from '../hub/config/config.ts';
import { shiftReport } from '../hub/reports/shift.ts';
import { siteRules } from '../hub/rules/site.ts';
import type { GatewayState } from '../hub/sources/serial.ts';
import { HOUR, MINUTE, T0 } from './rules-fixtures.ts';
import { memoryApi, type MemoryApi } from './support/api.ts';

const GATEWAY: GatewayState = {
  gateway: 'gw-1',
  path: '/dev/ttyUSB0',
  baudRate: 9600,
  connected: true,
  status: 'online',
  since: T0 - HOUR,
  lastFrameAt: T0 - 1000,
  frames: { ok: 1200, bad_checksum: 3, garbage: 1, too_long: 0, rejected: 2, lost: 0 },
  devices: { 'env-s1': 'floor-a' },
};

const CONFIG = {
  zones: [
    { id: 'floor-a', name: 'Floor A' },
    { id: 'quiet-1', type: 'quiet_room' },
  ],
  devices: [
    { id: 'env-a1', kind: 'sensor', zone: 'floor-a' },
    { id: 'hs-1', kind: 'headset', zone: 'floor-a' },
  ],
};

/** What a JSON answer holds of a value: undefined fields gone, as on the wire. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('the API on in-memory parts', () => {
  let api: MemoryApi;
  const get = async (url: string) => {
    const response = await api.app.inject({ method: 'GET', url });
    return {
      status: response.statusCode,
      body: String(response.headers['content-type']).includes('json') ? response.json<unknown>() : response.body,
    };
  };
  const post = async (url: string, payload: unknown, method: 'POST' | 'DELETE' = 'POST') => {
    const response = await api.app.inject({
      method,
      url,
      ...(payload !== undefined && {
        headers: { 'content-type': 'application/json' },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      }),
    });
    return {
      status: response.statusCode,
      body: response.body === '' ? undefined : response.json<Record<string, unknown>>(),
    };
  };

  beforeAll(async () => {
    api = await memoryApi({ config: CONFIG, gateways: [GATEWAY] });
    const s = (ms: number) => ms / 1000;
    const temperatures = [
      { bn: 'env-a1/', bt: s(T0 - 50 * MINUTE), n: 'temperature', u: 'Cel', v: 21 },
      { t: s(10 * MINUTE), n: 'temperature', u: 'Cel', v: 22 },
      { t: s(30 * MINUTE), n: 'temperature', u: 'Cel', v: 23 },
      { t: s(45 * MINUTE), n: 'temperature', u: 'Cel', v: 24 },
    ];
    expect(await api.send(temperatures)).toEqual({
      status: 200,
      body: { accepted: 4, rejected: 0, duplicates: 0, problems: [] },
    });
    // A walk-in device nobody declared, and a peak that fires an alert at once.
    expect((await api.send([{ bn: 'w-1/', bt: s(T0 - 5 * MINUTE), n: 'humidity', v: 40 }])).status).toBe(200);
    expect((await api.send([{ bn: 'env-a1/', bt: s(T0), n: 'noise_peak', u: 'dBC', v: 141 }])).status).toBe(200);
  });
  afterAll(async () => api?.close());

  it('readings: times relative to the injected clock, the last hour by default, raw or aggregated', async () => {
    expect(await get('/api/v1/readings?device=env-a1&metric=temperature')).toEqual({
      status: 200,
      body: {
        metric: 'temperature',
        from: T0 - HOUR,
        to: T0,
        device: 'env-a1',
        // Raw points are read at most 100,000 at a time, the newest kept.
        limit: 100_000,
        unit: 'Cel',
        points: [21, 22, 23, 24].map((value, i) => ({
          ts: T0 - [50, 40, 20, 5][i]! * MINUTE,
          value,
          device: 'env-a1',
        })),
      },
    });
    const half = await get('/api/v1/readings?device=env-a1&metric=temperature&from=-30m');
    expect(half.body).toMatchObject({ from: T0 - 30 * MINUTE, to: T0, points: [{ value: 23 }, { value: 24 }] });
    const highest = await get(
      `/api/v1/readings?zone=floor-a&metric=temperature&agg=max&from=${T0 - HOUR}&to=${new Date(T0).toISOString()}`,
    );
    expect(highest.body).toEqual({
      metric: 'temperature',
      from: T0 - HOUR,
      to: T0,
      zone: 'floor-a',
      agg: 'max',
      unit: 'Cel',
      points: [{ ts: T0 - HOUR, value: 24 }],
    });
    const newest = await get('/api/v1/readings?device=env-a1&metric=temperature&limit=1');
    expect(newest.body).toMatchObject({ limit: 1, points: [{ value: 24 }] });
    expect((await get('/api/v1/readings?device=env-a1&metric=toString')).body).toMatchObject({
      unit: null,
      points: [],
    });
  });

  it('health, metrics and gateways: answered as the hub reports them', async () => {
    expect(await get('/api/v1/health')).toEqual({
      status: 200,
      body: { status: 'ok', checks: { store: { ok: true, detail: 'sqlite in memory', backend: 'sqlite' } } },
    });
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^# HELP floorwatch_/m);
    expect(await get('/api/v1/gateways')).toEqual({ status: 200, body: { gateways: [GATEWAY] } });
  });

  it('devices: pages in id order, filters, one device, each exactly as the registry has it', async () => {
    const all = await get('/api/v1/devices');
    const page = api.registry.page(T0, { limit: 500 });
    expect(all).toEqual({
      status: 200,
      body: {
        ...(wire({ ...page, devices: page.devices.map((d) => ({ ...d, calibration: {} })) }) as object),
        unassigned: ['w-1'],
      },
    });
    expect((all.body as { devices: Array<{ id: string }> }).devices.map((d) => d.id)).toEqual([
      'env-a1',
      'hs-1',
      'w-1',
    ]);
    expect((await get('/api/v1/devices?limit=1')).body).toMatchObject({
      devices: [{ id: 'env-a1' }],
      total: 3,
      next: 'env-a1',
    });
    expect((await get('/api/v1/devices?limit=1&after=env-a1')).body).toMatchObject({
      devices: [{ id: 'hs-1' }],
      next: 'hs-1',
    });
    expect((await get('/api/v1/devices?match=HS')).body).toMatchObject({ devices: [{ id: 'hs-1' }], total: 1 });
    expect((await get('/api/v1/devices?match=floor-a')).body).toMatchObject({ total: 2 });
    expect((await get('/api/v1/devices?match=constructor')).body).toMatchObject({ devices: [], total: 0 });
    expect((await get('/api/v1/devices?zone=floor-a&online=false')).body).toMatchObject({
      devices: [{ id: 'hs-1', onlineBy: 'never_seen' }],
      total: 1,
      next: null,
      unassigned: [],
    });
    expect(await get('/api/v1/devices/env-a1')).toEqual({
      status: 200,
      body: wire({ ...api.registry.get('env-a1', T0), calibration: {} }),
    });
    for (const id of ['nobody', 'constructor', 'toString']) {
      expect(await get(`/api/v1/devices/${id}`)).toEqual({
        status: 404,
        body: { error: 'Not Found', message: `no device "${id}" is declared or has reported` },
      });
    }
  });

  it('alerts, acknowledgement and silences, each answer as the rule engine has it', async () => {
    const engine = api.rules.view;
    const view = (a: ReturnType<typeof engine.alerts>[number]) => ({ ...a, silencedBy: engine.silencedNow()(a) });
    const firing = await get('/api/v1/alerts?state=firing&zone=floor-a&severity=critical');
    expect(firing).toEqual({ status: 200, body: { alerts: wire(engine.alerts({ state: 'firing' }).map(view)) } });
    const [alert] = (firing.body as { alerts: Array<{ id: number; key: string }> }).alerts;
    expect(alert?.key).toBe('noise_peak.env-a1');
    expect(await get(`/api/v1/alerts/${alert!.id}`)).toEqual({
      status: 200,
      body: wire({ ...view(engine.alert(alert!.id)!), history: engine.history(alert!.id).shown, historyOmitted: 0 }),
    });

    const acked = await post(`/api/v1/alerts/${alert!.id}/ack`, { by: 'li.wei', comment: 'checking the meter' });
    expect(acked).toEqual({ status: 200, body: wire(view(engine.alert(alert!.id)!)) });
    expect(acked.body?.ack).toEqual({ by: 'li.wei', at: T0, comment: 'checking the meter' });
    expect((await get('/api/v1/audit?action=alert.ack')).body).toEqual({
      entries: [
        {
          at: T0,
          who: 'anonymous',
          action: 'alert.ack',
          details: { alert: alert!.id, by: 'li.wei', comment: 'checking the meter' },
        },
      ],
    });
    expect(await post('/api/v1/alerts/999/ack', { by: 'li.wei' })).toEqual({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: 'no alert 999' },
    });

    const created = await post('/api/v1/silences', {
      matchers: { zone: 'floor-a', rule: 'noise_peak' },
      duration: '2h',
      createdBy: 'li.wei',
    });
    expect(created).toEqual({ status: 201, body: wire(engine.silences()[0]) });
    expect(created.body).toMatchObject({
      matchers: { zone: 'floor-a', rule: 'noise_peak' },
      startsAt: T0,
      endsAt: T0 + 2 * HOUR,
      createdBy: 'li.wei',
      comment: '',
      createdAt: T0,
    });
    const id = created.body?.id as number;
    expect((await get('/api/v1/silences')).body).toEqual({ silences: [{ ...(created.body as object), active: true }] });
    expect((await get('/api/v1/alerts?state=firing')).body).toMatchObject({
      alerts: [{ key: 'noise_peak.env-a1', silencedBy: [id] }],
    });
    expect(await post(`/api/v1/silences/${id}`, undefined, 'DELETE')).toEqual({ status: 204, body: undefined });
    expect(await post(`/api/v1/silences/${id}`, undefined, 'DELETE')).toEqual({
      status: 404,
      body: { error: 'Not Found', message: `no silence ${id}` },
    });
    // A rule whose name has a digit in it.
    expect(
      await post('/api/v1/silences', { matchers: { rule: 'co2' }, duration: '1h', createdBy: 'li.wei' }),
    ).toMatchObject({ status: 201, body: { matchers: { rule: 'co2' } } });
    expect((await get('/api/v1/rules')).body).toEqual(wire(siteRules(api.config, T0)));
  });

  it('reports and zones: JSON exactly as the report is made, HTML on request', async () => {
    const from = T0 - 2 * HOUR;
    const shift = await get(`/api/v1/reports/shift?from=${from}&to=${T0 + 1}`);
    expect(shift).toEqual({
      status: 200,
      body: wire(
        await shiftReport(
          api.store,
          (at) => siteRules(api.config, at),
          from,
          T0 + 1,
          T0 - ms(api.config.storage.raw_retention),
        ),
      ),
    });
    expect((shift.body as { zones: Array<{ zone: string; temperature?: unknown }> }).zones[0]).toMatchObject({
      zone: 'floor-a',
      name: 'Floor A',
      temperature: { min: 21, max: 24 },
    });
    for (const request of [
      { url: `/api/v1/reports/shift?from=${from}&format=html` },
      { url: `/api/v1/reports/shift?from=${from}`, headers: { accept: 'text/html' } },
    ]) {
      const html = await api.app.inject({ method: 'GET', ...request });
      expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(html.body).toContain('Floor A');
    }
    const equipment = await get('/api/v1/reports/equipment');
    expect(equipment.status).toBe(200);
    expect(equipment.body).toMatchObject({
      from: T0 - 30 * 24 * HOUR,
      to: T0,
      devices: [{ device: 'env-a1' }, { device: 'hs-1' }, { device: 'w-1' }],
    });
    const zones = await get('/api/v1/zones');
    // env-a1 reported at T0; w-1 five minutes ago, past three of the default heartbeat interval.
    expect(zones.body).toMatchObject({
      site: 'floorwatch',
      at: T0,
      devices: { total: 3, online: 1 },
      zones: [
        {
          zone: 'floor-a',
          name: 'Floor A',
          type: 'call_floor',
          occupancy: 'occupied',
          alerts: { firing: 1, critical: 1 },
        },
        { zone: 'quiet-1', name: null },
      ],
    });
    const floorA = (
      zones.body as {
        zones: Array<{ latest: Record<string, unknown>; requirements: Array<{ key: string; breached?: unknown }> }>;
      }
    ).zones[0];
    expect(floorA?.latest.temperature).toEqual({ value: 24, ts: T0 - 5 * MINUTE, device: 'env-a1', unit: 'Cel' });
    expect(floorA?.requirements.find((r) => r.key === 'noise_peak')?.breached).toMatchObject({
      severity: 'critical',
      when: 'above',
      threshold: 137,
    });
  });

  it('refuses a bad parameter with a 400 that names it, shows what was given and says what it takes', async () => {
    const cases: Array<[string, string | RegExp]> = [
      ['/api/v1/readings?device=env-a1', 'metric is required, e.g. metric=temperature'],
      ['/api/v1/readings', 'metric is required, e.g. metric=temperature; give exactly one of device or zone'],
      ['/api/v1/readings?metric=temperature', 'give exactly one of device or zone'],
      ['/api/v1/readings?device=env-a1&zone=floor-a&metric=temperature', 'give exactly one of device or zone'],
      [
        '/api/v1/readings?device=env%20a1&metric=temperature',
        `device="env a1" contains " " (allowed: letters, digits, '.', '_', '-')`,
      ],
      [
        '/api/v1/readings?device=env-a1&metric=temperature&agg=median',
        'agg="median" is not one of mean, min, max, last, laeq',
      ],
      ['/api/v1/readings?device=env-a1&metric=temperature&every=1m', 'every needs agg (mean, min, max, last or laeq)'],
      [
        '/api/v1/readings?device=env-a1&metric=temperature&every=0s&agg=mean',
        'every="0s" must be a duration from 1s to 366d, such as 1m or 15m',
      ],
      [
        '/api/v1/readings?device=env-a1&metric=temperature&every=1s&agg=mean&from=-7d',
        'every=1s makes more than 100000 windows over this range: use a longer window',
      ],
      ['/api/v1/readings?device=env-a1&metric=temperature&from=-1h&to=-2h', /^from \(\S+\) must be before to \(\S+\)$/],
      [
        '/api/v1/readings?device=env-a1&metric=temperature&limit=0',
        'limit="0" must be a whole number from 1 to 100000',
      ],
      ['/api/v1/devices?online=yes', 'online="yes" must be true or false'],
      ['/api/v1/devices?limit=5001', 'limit="5001" must be a whole number from 1 to 5000'],
      ['/api/v1/devices?zone=floor-a&unzoned=true', 'give zone or unzoned=true, not both'],
      ['/api/v1/devices/-x', 'id="-x" must start with a letter or digit'],
      ['/api/v1/alerts?state=open', 'state="open" is not one of pending, firing, resolved'],
      ['/api/v1/alerts/1e3', 'alert id "1e3" must be a whole number'],
      ['/api/v1/audit?limit=10001', 'limit="10001" must be a whole number from 1 to 10000'],
      [
        '/api/v1/rejections?reason=bad',
        /^reason="bad" is not one of payload_too_large, invalid_json, .*, store_refused, consumer_failed, notification_refused$/,
      ],
      ['/api/v1/reports/shift?format=pdf', 'format="pdf" is not one of json, html'],
      ['/api/v1/reports/equipment?from=-400d', 'a report covers at most 366 days; from and to are 400 days apart'],
      ['/api/v1/events?metric=co2%22%3E', 'metric="co2\\">" must be a metric name such as temperature'],
      // Everything wrong at once is said at once, each problem with its parameter.
      [
        '/api/v1/readings?device=env-a1&metric=temperature&from=yesterday&to=soon',
        'to="soon" is not a time: use ms since 1970, an ISO 8601 date, or a relative time such as -15m; from="yesterday" is not a time: use ms since 1970, an ISO 8601 date, or a relative time such as -15m',
      ],
      [
        '/api/v1/devices?zone=a%2Fb&online=maybe&limit=0',
        `zone="a/b" contains "/" (allowed: letters, digits, '.', '_', '-'); online="maybe" must be true or false; limit="0" must be a whole number from 1 to 5000`,
      ],
      [
        '/api/v1/readings?device=env-a1&metric=temperature&metric=co2&limit=5&limit=6',
        'metric was given more than once; limit was given more than once',
      ],
    ];
    for (const [url, message] of cases) {
      const { status, body } = await get(url);
      expect({ url, status }).toEqual({ url, status: 400 });
      expect(body, url).toMatchObject({ statusCode: 400, error: 'Bad Request', message });
    }
  });

  it('refuses a bad body by its field, and creates nothing', async () => {
    const [alert] = api.rules.view.alerts({ state: 'firing' });
    const cases: Array<[string, unknown, string]> = [
      [`/api/v1/alerts/${alert!.id}/ack`, {}, 'by is required: say who you are, e.g. {"by": "li.wei"}'],
      [`/api/v1/alerts/${alert!.id}/ack`, { by: '' }, 'by is required: say who you are, e.g. {"by": "li.wei"}'],
      [`/api/v1/alerts/${alert!.id}/ack`, { by: null }, 'by is required: say who you are, e.g. {"by": "li.wei"}'],
      [`/api/v1/alerts/${alert!.id}/ack`, undefined, 'send a JSON object'],
      [`/api/v1/alerts/${alert!.id}/ack`, 'null', 'send a JSON object'],
      [`/api/v1/alerts/${alert!.id}/ack`, { by: ['li', 'wei'] }, 'by must be text of at most 100 characters'],
      // Too long is all it is told: what it holds is not looked into.
      [
        `/api/v1/alerts/${alert!.id}/ack`,
        { by: `li\n${'\u0915\u200d'.repeat(100_000)}` },
        'by must be text of at most 100 characters',
      ],
      [`/api/v1/alerts/${alert!.id}/ack`, { by: '   ' }, 'by is required: say who you are, e.g. {"by": "li.wei"}'],
      // A joiner beside ASCII (in a Latin name, at an end, doubled) only hides in the name.
      ...[
        'li\nwei',
        'li\r\nSubject: x',
        'li\twei',
        'li\u2028wei',
        'li\u0085wei',
        'li\u202ewei',
        'li\u200bwei',
        'li\u200dwei',
        '\u200cli.wei',
        'li.wei \u200d\u{1F4BB}',
        '\u0645\u062d\u0645\u062f\u200c\u200c\u0631\u0636\u0627',
        // Between characters that do not show, or in scripts a Latin name is mistaken in.
        'li\u034f\u200d\u034fwei',
        '\u0418\u200d\u0432\u0430\u043d',
        'e\u0301\u200d',
        // Characters that do not show, on their own.
        'li\ufe0fwei',
        'li\u3164wei',
        'li\u00adwei',
      ].map((by): [string, unknown, string] => [
        `/api/v1/alerts/${alert!.id}/ack`,
        { by },
        'by must be one line of plain text: no line breaks, tabs, control or invisible formatting characters',
      ]),
      [
        `/api/v1/alerts/${alert!.id}/ack`,
        { by: 'li.wei', comment: 'x'.repeat(1001) },
        'comment must be text of at most 1000 characters',
      ],
      [`/api/v1/alerts/${alert!.id}/ack`, [], 'send a JSON object'],
      [
        '/api/v1/silences',
        { matchers: {}, duration: '1h', createdBy: 'a' },
        'matchers needs at least one of zone, device, rule, severity, kind, key: a silence of everything is not allowed',
      ],
      [
        '/api/v1/silences',
        { duration: '1h', createdBy: 'a' },
        'matchers needs at least one of zone, device, rule, severity, kind, key: a silence of everything is not allowed',
      ],
      [
        '/api/v1/silences',
        {
          matchers: { zone: 'floor-a' },
          recurrence: { every: 'week', start: '02:00', duration: '2h' },
          createdBy: 'a',
        },
        'a weekly recurrence needs days, such as ["tue"]',
      ],
      [
        '/api/v1/silences',
        {
          matchers: { zone: 'floor-a' },
          recurrence: { every: 'month', nth: 5, weekday: 'tue', start: '02:00', duration: '2h' },
          createdBy: 'a',
        },
        'recurrence.nth must be 1, 2, 3, 4, or -1 for the last',
      ],
      [
        '/api/v1/silences',
        {
          matchers: { zone: 'floor-a' },
          recurrence: { every: 'week', days: ['constructor'], start: '02:00', duration: '2h' },
          createdBy: 'a',
        },
        'recurrence.days.0: must be a day: sun, mon, tue, wed, thu, fri, sat',
      ],
      [
        '/api/v1/silences',
        {
          matchers: { zone: 'floor-a' },
          recurrence: { every: 'week', days: ['tue'], start: '02:00', duration: '25h' },
          createdBy: 'a',
        },
        'recurrence.duration must be a duration of at most a day, such as "2h"',
      ],
      [
        '/api/v1/silences',
        { matchers: { room: 'x', constructor: 'y' }, duration: '1h', createdBy: 'a' },
        'matchers: unknown field(s) room, constructor (use zone, device, rule, severity, kind, key)',
      ],
      [
        '/api/v1/silences',
        { matchers: 'floor-a', duration: '1h', createdBy: 'a' },
        'matchers must be a JSON object, such as {"zone": "floor-a"}',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: '__proto__' }, duration: '1h', createdBy: 'a' },
        'matchers.zone="__proto__" must start with a letter or digit',
      ],
      ['/api/v1/silences', { matchers: { device: 5 }, duration: '1h', createdBy: 'a' }, 'matchers.device must be text'],
      [
        '/api/v1/silences',
        { matchers: { rule: 'Noise!' }, duration: '1h', createdBy: 'a' },
        'matchers.rule="Noise!" is not a rule name such as noise, offline or equipment.headset',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: 'floor-a' }, duration: '1h', createdBy: 'configuration (x)' },
        'createdBy may not start with "configuration (": that names the silences the configuration file keeps',
      ],
      [
        '/api/v1/silences',
        { matchers: { severity: 'loud' }, duration: '1h', createdBy: 'a' },
        'matchers.severity="loud" is not one of warning, critical',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: 'floor-a' }, createdBy: 'a' },
        'give endsAt (a time) or duration (such as "2h")',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: 'floor-a' }, duration: '1h' },
        'createdBy is required: say who you are, e.g. {"createdBy": "li.wei"}',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: 'floor-a' }, endsAt: true, createdBy: 'a' },
        'endsAt=true is not a time: use ms since 1970, an ISO 8601 date, or a relative time such as -15m',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: 'floor-a' }, endsAt: 'tomorrow', createdBy: 'a' },
        'endsAt="tomorrow" is not a time: use ms since 1970, an ISO 8601 date, or a relative time such as -15m',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: 'floor-a' }, duration: '91d', createdBy: 'a' },
        'a silence may last at most 90 days: make endsAt (or the duration) sooner',
      ],
      [
        '/api/v1/silences',
        { matchers: { zone: 'floor-a' }, endsAt: T0 - HOUR, startsAt: T0 - 2 * HOUR, createdBy: 'a' },
        `endsAt (${new Date(T0 - HOUR).toISOString()}) must be after startsAt and in the future: the silence would never be in force`,
      ],
    ];
    const before = {
      alert: api.rules.view.alert(alert!.id),
      silences: api.rules.view.silences(),
      audit: await api.security.audit.list({ limit: 100 }),
    };
    for (const [url, payload, message] of cases) {
      const { status, body } = await post(url, payload);
      expect({ payload, status }).toEqual({ payload, status: 400 });
      expect(body, JSON.stringify(payload)).toMatchObject({ statusCode: 400, error: 'Bad Request', message });
    }
    expect({
      alert: api.rules.view.alert(alert!.id),
      silences: api.rules.view.silences(),
      audit: await api.security.audit.list({ limit: 100 }),
    }).toEqual(before);
  });

  it('takes a name spelt with a zero-width joiner or non-joiner: Persian, Devanagari, Malayalam, emoji sequences and a flag', async () => {
    const [alert] = api.rules.view.alerts({ state: 'firing' });
    for (const by of [
      '\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627',
      '\u0915\u094d\u200d\u0937\u093e',
      '\u{1F469}\u{1F3FD}\u200d\u{1F4BB} li.wei',
      // Malayalam's older chillu letters end a word with a joiner.
      '\u0d05\u0d30\u0d4d\u200d\u0d1c\u0d41\u0d28\u0d4d\u200d',
      '\u{1F441}\ufe0f\u200d\u{1F5E8}\ufe0f',
      // A flag spelt with tags.
      '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} li.wei',
    ]) {
      const { status, body } = await post(`/api/v1/alerts/${alert!.id}/ack`, { by });
      expect({ by, status }).toEqual({ by, status: 200 });
      expect((body as { ack?: { by: string } }).ack?.by).toBe(by);
    }
  });

  it('hostile input in any parameter is refused by name, or answered as the plain name it is; nothing changes', async () => {
    /**
     * value: a time, count, choice, flag or duration: anything hostile is a 400.
     * name: an id or metric name: constructor and toString are names like any other, __proto__ is not a valid one.
     * text: matched as sent (a rejected device's name, valid or not): answered, never refused.
     */
    type Kind = 'value' | 'name' | 'text';
    // list: the field of the answer that a name or text matching nothing leaves empty.
    const routes: Array<{
      path: string;
      base: Record<string, string>;
      params: Record<string, Kind>;
      list?: string;
      stream?: true;
    }> = [
      {
        path: '/api/v1/readings',
        list: 'points',
        base: { device: 'env-a1', metric: 'temperature' },
        params: {
          device: 'name',
          metric: 'name',
          from: 'value',
          to: 'value',
          every: 'value',
          agg: 'value',
          limit: 'value',
        },
      },
      {
        path: '/api/v1/readings',
        list: 'points',
        base: { zone: 'floor-a', metric: 'temperature' },
        params: { zone: 'name' },
      },
      { path: '/api/v1/devices', list: 'devices', base: {}, params: { zone: 'name', online: 'value', limit: 'value' } },
      // A cursor, not a filter: the page starts after the name, whatever it is.
      { path: '/api/v1/devices', base: {}, params: { after: 'name' } },
      {
        path: '/api/v1/rejections',
        list: 'rejections',
        base: {},
        params: { device: 'text', reason: 'value', stage: 'text', limit: 'value' },
      },
      { path: '/api/v1/audit', list: 'entries', base: {}, params: { action: 'text', limit: 'value' } },
      {
        path: '/api/v1/alerts',
        list: 'alerts',
        base: {},
        params: { state: 'value', zone: 'name', severity: 'value', limit: 'value' },
      },
      { path: '/api/v1/reports/shift', base: {}, params: { from: 'value', to: 'value', format: 'value' } },
      { path: '/api/v1/reports/equipment', base: {}, params: { from: 'value', to: 'value' } },
      // An accepted filter opens a stream that never ends: only what must be refused is tried.
      { path: '/api/v1/events', base: {}, params: { device: 'name', zone: 'name', metric: 'name' }, stream: true },
    ];
    const huge = 'A'.repeat(10_000);
    const state = async () => ({
      readings: await api.store.count({ from: 0, to: T0 + HOUR }),
      devices: api.registry.ids(),
      alerts: api.rules.view.alerts({}),
      silences: api.rules.view.silences(),
      audit: await api.security.audit.list({ limit: 100 }),
      rejections: api.rejections.total,
    });
    const before = await state();
    let tried = 0;
    for (const route of routes) {
      for (const [param, kind] of Object.entries(route.params)) {
        for (const hostile of ['__proto__', 'constructor', 'toString', huge, ['1', '2']]) {
          const refused =
            kind === 'value' ||
            Array.isArray(hostile) ||
            (kind === 'name' && (hostile === '__proto__' || hostile === huge));
          if (route.stream && !refused) continue;
          const query = new URLSearchParams(route.base);
          query.delete(param);
          for (const value of [hostile].flat()) query.append(param, value);
          const url = `${route.path}?${query.toString()}`;
          const { status, body } = await get(url);
          tried++;
          const what = `${route.path} ${param}=${String(hostile).slice(0, 20)}`;
          if (!refused) {
            expect(status, what).toBe(200);
            if (route.list) expect((body as Record<string, unknown>)[route.list], what).toEqual([]);
            continue;
          }
          expect(status, what).toBe(400);
          const { message } = body as { message: string };
          expect(message, what).toContain(param);
          // What was sent is shown cut short, never echoed whole.
          expect(message.length, what).toBeLessThan(400);
        }
      }
    }
    for (const [method, url] of [
      ['GET', '/api/v1/devices/__proto__'],
      ['GET', `/api/v1/devices/${huge.slice(0, 80)}`],
      ['GET', '/api/v1/alerts/constructor'],
      ['POST', '/api/v1/alerts/__proto__/ack'],
      ['DELETE', '/api/v1/silences/toString'],
    ] as const) {
      const response = await api.app.inject({ method, url, ...(method === 'POST' && { payload: { by: 'li.wei' } }) });
      expect({ url, status: response.statusCode }).toEqual({ url, status: 400 });
      expect(response.json<{ message: string }>().message, url).toMatch(/^(id=|alert id |silence id )/);
      tried++;
    }
    // A body that would reach an object's prototype is refused by the JSON parser itself.
    for (const payload of [
      '{"__proto__":{"matchers":{"zone":"floor-a"}},"duration":"1h","createdBy":"a"}',
      '{"constructor":{"prototype":{"x":1}},"duration":"1h","createdBy":"a"}',
    ]) {
      expect((await post('/api/v1/silences', payload)).status, payload).toBe(400);
      tried++;
    }
    expect(tried).toBeGreaterThan(150);
    expect(await state()).toEqual(before);
  });

  it('describes every route it serves at /docs: each parameter, the body, and what each status answers', async () => {
    // The API as README.md lists it: path and query parameters, and whether a JSON body is taken.
    const API: Record<string, { query?: string[]; path?: string[]; body?: true }> = {
      'GET /api/v1/health': {},
      'GET /metrics': {},
      'GET /api/v1/zones': {},
      'GET /api/v1/devices': { query: ['zone', 'unzoned', 'online', 'match', 'limit', 'after'] },
      'GET /api/v1/devices/{id}': { path: ['id'] },
      'POST /api/v1/devices/{id}/forget': { path: ['id'], body: true },
      'PUT /api/v1/devices/{id}/calibration/{metric}': { path: ['id', 'metric'], body: true },
      'GET /api/v1/readings': { query: ['device', 'zone', 'metric', 'from', 'to', 'every', 'agg', 'limit'] },
      'POST /api/v1/readings': { body: true },
      'GET /api/v1/rejections': { query: ['device', 'reason', 'stage', 'limit'] },
      'GET /api/v1/audit': { query: ['action', 'limit'] },
      'POST /api/v1/config/reload': {},
      'GET /api/v1/gateways': {},
      'GET /api/v1/events': { query: ['device', 'zone', 'metric', 'access_token'] },
      'GET /api/v1/alerts': { query: ['state', 'zone', 'severity', 'limit'] },
      'GET /api/v1/alerts/{id}': { path: ['id'] },
      'POST /api/v1/alerts/{id}/ack': { path: ['id'], body: true },
      'GET /api/v1/silences': {},
      'POST /api/v1/silences': { body: true },
      'DELETE /api/v1/silences/{id}': { path: ['id'] },
      'GET /api/v1/rules': {},
      'GET /api/v1/layout': {},
      'GET /api/v1/layout/background': {},
      'GET /api/v1/reports/shift': { query: ['from', 'to', 'format'] },
      'GET /api/v1/reports/equipment': { query: ['from', 'to', 'format'] },
    };
    interface Described {
      description?: string;
      schema?: unknown;
      content?: Record<string, { schema?: unknown }>;
    }
    interface Operation {
      parameters?: Array<Described & { name: string; in: string; required?: boolean }>;
      requestBody?: Described;
      responses: Record<string, Described>;
    }
    const docs = (await get('/docs/json')).body as { paths: Record<string, Record<string, Operation>> };
    const documented = Object.entries(docs.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(Object.keys(API).sort());
    expect(api.served.map((s) => s.replace(/:(\w+)/g, '{$1}')).sort()).toEqual(Object.keys(API).sort());

    const hasSchema = (d: Described | undefined) =>
      d?.schema !== undefined || Object.values(d?.content ?? {}).some((c) => c.schema !== undefined);
    for (const [operation, expected] of Object.entries(API)) {
      const [method = '', path = ''] = operation.split(' ');
      const described = docs.paths[path]?.[method.toLowerCase()];
      const parameters = described?.parameters ?? [];
      const named = (where: string) => parameters.filter((p) => p.in === where).map((p) => p.name);
      expect({ operation, query: named('query'), path: named('path') }).toEqual({
        operation,
        query: expected.query ?? [],
        path: expected.path ?? [],
      });
      for (const p of parameters) {
        expect(p.description, `${operation} ${p.name}`).toMatch(/\w/);
        expect(p.schema, `${operation} ${p.name}`).toHaveProperty('type');
        if (p.in === 'path') expect(p.required, `${operation} ${p.name}`).toBe(true);
      }
      expect(hasSchema(described?.requestBody), `${operation} body`).toBe(expected.body === true);

      const responses = Object.entries(described?.responses ?? {});
      for (const [status, response] of responses)
        expect(response.description, `${operation} ${status}`).not.toMatch(/^(Default Response)?$/);
      // The answer itself has a schema (a 204 has none to have); every refusal says what it holds.
      const answers = responses.filter(([status]) => status.startsWith('2'));
      expect(answers.length, operation).toBeGreaterThan(0);
      for (const [status, response] of answers)
        expect(hasSchema(response) || status === '204', `${operation} ${status}`).toBe(true);
      for (const [status, response] of responses.filter(([s]) => !s.startsWith('2')))
        expect(hasSchema(response), `${operation} ${status}`).toBe(true);
      // Whatever takes a parameter or a body can refuse it; everything but health sits behind the access check.
      const codes = responses.map(([status]) => status);
      if (expected.query ?? expected.path ?? expected.body) expect(codes, operation).toContain('400');
      if (operation !== 'GET /api/v1/health')
        expect(codes, operation).toEqual(expect.arrayContaining(['401', '403', '421', '429']));
    }
  });
});
