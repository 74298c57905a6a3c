// The live floor page in a real browser (Debian's chromium through playwright-core) against a real
// hub on InfluxDB: it loads under its Content-Security-Policy, follows readings, heartbeats and
// alerts over the event stream, acknowledges and silences by mouse and by keyboard, shows hostile
// names and texts as text, fits a phone, and signs in with a token once the hub asks for one.
// GET /api/v1/zones and the feed's ?access_token= are checked here too, without the browser.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ZoneStatus } from '../hub/api/zones.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { testBrowser, type TestBrowser } from './support/browser.ts';
import { eventually, startTestHub, storeCaughtUp, tempDir, type TestHub } from './support/hub.ts';
import type { Season } from '../hub/domain/zone.ts';

const HOSTILE = '<img src=x onerror="window.__pwned=1">';
const SITE = 'Floor 3 <script>window.__pwned=2</script>';
/** Opening hours that start two hours from now and last one: closed while these tests run. */
const LATER = (() => {
  const hh = (h: number) => String(h % 24).padStart(2, '0');
  const hour = new Date().getUTCHours();
  return `${hh(hour + 2)}:00-${hh(hour + 3)}:00`;
})();
/** An exported floor plan with a script in it: drawn as a picture, it must run nothing. */
const PLAN_IMAGE = join(tempDir('floorwatch-plan-'), 'floor-3.svg');
writeFileSync(
  PLAN_IMAGE,
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 120" onload="window.__pwned=3"><script>window.__pwned=4</script><path d="M0 0H300V120H0Z" fill="none" stroke="#888"/></svg>',
);
const CONFIG = {
  site: { name: SITE, season: 'winter', timezone: 'UTC' },
  layout: {
    width: 30,
    height: 12,
    background: PLAN_IMAGE,
    zones: {
      'floor-a': { rect: [0, 0, 18, 12] },
      'quiet-1': {
        polygon: [
          [18, 0],
          [24, 0],
          [24, 6],
          [18, 6],
        ],
      },
      'server-room': { rect: [24, 0, 6, 12] },
    },
    positions: { 'A-01': [2, 2], 'A-02': [4, 2], 'SR-1': [27, 6] },
  },
  zones: [
    { id: 'floor-a', name: 'Floor A — calls', type: 'call_floor' },
    { id: 'quiet-1', name: HOSTILE, type: 'quiet_room', hours: { daily: LATER } },
    { id: 'server-room', name: 'Server room', type: 'server_room' },
  ],
  devices: [
    { id: 'env-a1', kind: 'sensor', zone: 'floor-a' },
    { id: 'env-a2', kind: 'sensor', zone: 'floor-a' },
    { id: 'env-q1', kind: 'sensor', zone: 'quiet-1' },
    { id: 'env-s1', kind: 'sensor', zone: 'server-room', position: 'SR-1' },
    { id: 'hs-1', kind: 'headset', zone: 'floor-a', position: 'A-01' },
  ],
};
const ARTIFACTS = join(import.meta.dirname, 'artifacts');

interface Alert {
  id: number;
  key: string;
  ack?: { by: string; comment?: string };
  silencedBy: number[];
}

describe('the floor page', () => {
  let hub: TestHub;
  let device: MqttClient;
  let browser: TestBrowser;
  let page: Page;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];

  const publish = (id: string, body: Record<string, number>) =>
    device.publishAsync(`floorwatch/devices/${id}/telemetry`, JSON.stringify(body), { qos: 1 });
  const alerts = async () => (await hub.json<{ alerts: Alert[] }>('/api/v1/alerts?state=firing')).alerts;
  const firing = (key: string) =>
    eventually(async () => (await alerts()).find((a) => a.key === key), { what: `alert ${key}` });
  /** Fails the test if the page ran anything it was shown as data. */
  const assertNothingRan = async () => {
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(await page.locator('img, script:not([src])').count()).toBe(0);
    expect(await page.evaluate('window.__violations')).toEqual([]);
  };

  beforeAll(async () => {
    hub = await startTestHub({ influxUrl: `${inject('influxUrl')}/floorpage_${Date.now()}`, config: CONFIG });
    device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'floor-page-devices' });
    browser = await testBrowser({ viewport: { width: 1600, height: 1000 } });
    // Runs before the page's own script: records any CSP violation the page causes.
    await browser.context.addInitScript({
      content:
        "window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));",
    });
    page = browser.page;
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser.close();
    await device.endAsync();
    await hub.dispose();
  });

  it('GET /api/v1/zones judges each zone by the alert rules own requirements', async () => {
    // The last hour, as a sensor's offline buffer would replay it: comfortable, so it raises nothing.
    const start = Date.now() - 3_600_000;
    for (let minute = 0; minute < 55; minute++) {
      const wave = Math.sin(minute / 9);
      await publish('env-a2', {
        ts: start + minute * 60_000,
        temperature: 22 + wave,
        humidity: 42 + 2 * wave,
        co2: 650 + 80 * wave,
        noise: 58 + 3 * wave,
      });
    }
    await publish('env-a1', { temperature: 25.2, humidity: 45, co2: 700 });
    await publish('env-a2', { temperature: 21.5, humidity: 44 });
    await publish('env-s1', { temperature: 31 });
    // The store writer gathers what arrives within 25 ms: every reading is in the store before the zones are judged.
    await storeCaughtUp(hub);
    const body = await eventually(
      async () => {
        const b = await hub.json<{ site: string; season: Season; zones: ZoneStatus[] }>('/api/v1/zones');
        return b.zones.find((z) => z.zone === 'server-room')?.compliance === 'critical' &&
          b.zones.find((z) => z.zone === 'floor-a')?.latest.humidity
          ? b
          : undefined;
      },
      { what: 'the zones to reflect the readings' },
    );
    expect(body.site).toBe(SITE);
    expect(body.season).toBe('winter');
    const zone = (id: string): ZoneStatus => body.zones.find((z) => z.zone === id)!;
    const [floorA, quiet, server] = [zone('floor-a'), zone('quiet-1'), zone('server-room')];
    // Winter office comfort: above 24 °C is a warning; the warmest position decides.
    expect(floorA.compliance).toBe('warning');
    const temperature = floorA.requirements.find((r) => r.key === 'temperature');
    expect(temperature).toMatchObject({
      compliance: 'warning',
      value: 25.2,
      over: 'highest in 10 min',
      breached: { severity: 'warning', when: 'above', threshold: 24 },
    });
    expect(temperature?.breached?.source).toMatch(/GB/);
    const co2 = floorA.requirements.find((r) => r.key === 'co2');
    expect(co2).toMatchObject({ compliance: 'ok', over: 'mean over 60 min' });
    expect(co2?.value).toBeGreaterThan(570);
    expect(co2?.value).toBeLessThan(730);
    expect(floorA.requirements.find((r) => r.key === 'noise')).toMatchObject({
      compliance: 'ok',
      over: 'LAeq over 15 min',
    });
    expect(floorA.latest.humidity?.value).toBeGreaterThanOrEqual(44);
    // Per-position exposure is an alert matter, not a zone value.
    expect(floorA.requirements.map((r) => r.key)).not.toContain('noise_exposure');
    expect(server).toMatchObject({ compliance: 'critical', type: 'server_room' });
    expect(server.requirements.find((r) => r.key === 'temperature')?.breached).toMatchObject({
      severity: 'critical',
      threshold: 30,
    });
    expect(quiet).toMatchObject({ compliance: 'no_data', name: HOSTILE, latest: {} });
  });

  it('loads under a strict CSP and shows zones, devices and names as plain text', async () => {
    await device.publishAsync(
      'floorwatch/devices/hs-1/heartbeat',
      JSON.stringify({ kind: 'headset', status: 'ok', fw: '1.4.2' }),
      { qos: 1 },
    );
    const response = await page.goto(`${hub.hub.url}/`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await page.locator('.zone').nth(2).waitFor();
    expect(await page.locator('.zone h3').allTextContents()).toEqual(['Floor A — calls', HOSTILE, 'Server room']);
    expect(await page.locator('#site').textContent()).toBe(SITE);
    expect(await page.locator('[data-zone="floor-a"] .badge').textContent()).toBe('Warning');
    expect(await page.locator('[data-zone="server-room"] .badge').textContent()).toBe('Critical');
    expect(await page.locator('[data-zone="quiet-1"] .badge').textContent()).toBe('No recent data');
    // Whether each zone is open by its hours, and so which rules it is judged by.
    expect(await page.locator('[data-zone="floor-a"] .zone-meta').textContent()).toMatch(/· open$/);
    expect(await page.locator('[data-zone="quiet-1"] .zone-meta').textContent()).toMatch(
      /· closed \(set-back rules\)$/,
    );
    // Devices by zone, each group collapsed until opened, saying how many of its devices are offline.
    const groups = page.locator('#devices details.device-group');
    await expect.poll(() => groups.count()).toBe(3);
    expect(await page.locator('#devices details[open]').count()).toBe(0);
    expect(await page.locator('#devices tbody tr').count()).toBe(0);
    expect(await page.locator('[data-group="quiet-1"] summary').textContent()).toBe(`${HOSTILE} · 1 device, 1 offline`);
    await page.locator('[data-group="floor-a"] summary').click();
    await page.locator('[data-group="quiet-1"] summary').click();
    await page.locator('#devices tr[data-device="hs-1"]', { hasText: 'online' }).waitFor();
    expect(await page.locator('#devices tr[data-device="hs-1"]').textContent()).toContain('A-01');
    await page.locator('#devices tr[data-device="env-q1"]', { hasText: 'offline' }).waitFor();
    await page.locator('#live', { hasText: 'Live' }).waitFor();
    // The last hour as a chart over the requirement's bands: the winter call floor warns above 24 °C.
    const chart = page.locator('[data-zone="floor-a"] [data-metric="temperature"] svg.spark');
    await chart.locator('polyline').waitFor();
    expect((await chart.locator('polyline').getAttribute('points'))?.split(' ').length).toBeGreaterThanOrEqual(50);
    expect(await chart.getAttribute('aria-label')).toMatch(
      /^Temperature over the last hour: 2\d\.\d to 2\d\.\d °C; .*warning above 24\.0.* °C$/,
    );
    expect(await chart.locator('rect.band.warning').count()).toBeGreaterThanOrEqual(1);
    expect(await chart.locator('rect.band.critical').count()).toBeGreaterThanOrEqual(1);
    expect((await chart.boundingBox())?.width).toBeGreaterThan(150);
    await assertNothingRan();
    expect(consoleErrors).toEqual([]);
  });

  it('updates when a reading, a heartbeat or a presence change arrives', async () => {
    const value = page.locator('[data-zone="floor-a"] [data-metric="co2"] .value');
    expect(await value.textContent()).toBe('700');
    await publish('env-a2', { co2: 1234 });
    await page
      .locator('[data-zone="floor-a"] [data-metric="co2"] .value', { hasText: /^1234$/ })
      .waitFor({ timeout: 10_000 });
    await device.publishAsync('floorwatch/devices/env-q1/status', 'online', { qos: 1, retain: true });
    await page.locator('#devices tr[data-device="env-q1"]', { hasText: 'online' }).waitFor({ timeout: 10_000 });
    await device.publishAsync('floorwatch/devices/env-q1/status', 'offline', { qos: 1, retain: true });
    await page.locator('#devices tr[data-device="env-q1"]', { hasText: 'offline' }).waitFor({ timeout: 10_000 });
  });

  it('shows a metric a device names after something on Object.prototype as itself', async () => {
    await publish('env-a2', { constructor: 5.5, toString: 7.5 });
    for (const [metric, value] of [
      ['constructor', '5.5'],
      ['toString', '7.5'],
    ] as const) {
      await page
        .locator(`[data-zone="floor-a"] [data-metric="${metric}"] .value`, { hasText: value })
        .waitFor({ timeout: 10_000 });
      expect(await page.locator('[data-zone="floor-a"] dt', { hasText: new RegExp(`^${metric}$`) }).count()).toBe(1);
    }
    await assertNothingRan();
  });

  it('acknowledges by mouse, refusing without a name, and by keyboard alone', async () => {
    // Above 137 dB(C) is an immediate critical (EU 2003/10/EC peak).
    await publish('env-a1', { noise_peak: 140 });
    await publish('env-a2', { noise_peak: 141 });
    const [one, two] = await Promise.all([firing('noise_peak.env-a1'), firing('noise_peak.env-a2')]);
    const first = page.locator(`li[data-alert="${one.id}"]`);
    await first.waitFor({ timeout: 10_000 });
    await page.locator(`li[data-alert="${two.id}"]`).waitFor({ timeout: 10_000 });

    await page.fill('#who', '');
    await first.locator('button.ack').click();
    expect(await page.locator('#alert-error').textContent()).toContain('Type your name');
    expect((await alerts()).find((a) => a.id === one.id)?.ack).toBeUndefined();

    await page.fill('#who', 'li.wei');
    await first.locator('button.ack').click();
    await first.locator('.acked', { hasText: 'Acknowledged by li.wei' }).waitFor();
    expect((await alerts()).find((a) => a.id === one.id)?.ack?.by).toBe('li.wei');

    // From the top of the page, Tab alone reaches the other alert's button; Enter presses it.
    await page.evaluate('document.activeElement?.blur()');
    let reached: string | undefined;
    for (let i = 0; i < 30 && reached !== `ack-${two.id}`; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate<string | undefined>('document.activeElement?.dataset.focusKey');
    }
    expect(reached).toBe(`ack-${two.id}`);
    await page.keyboard.press('Enter');
    await eventually(async () => (await alerts()).find((a) => a.id === two.id)?.ack?.by === 'li.wei', {
      what: 'the keyboard acknowledgement',
    });
  });

  it('silences an alert for an hour', async () => {
    const one = await firing('noise_peak.env-a1');
    await page.locator(`li[data-alert="${one.id}"] button.silence`).click();
    await page.locator(`li[data-alert="${one.id}"] .silenced`).waitFor({ timeout: 10_000 });
    const { silences } = await hub.json<{
      silences: Array<{ matchers: unknown; createdBy: string; endsAt: number; startsAt: number }>;
    }>('/api/v1/silences');
    expect(silences).toHaveLength(1);
    expect(silences[0]).toMatchObject({ matchers: { rule: 'noise_peak', device: 'env-a1' }, createdBy: 'li.wei' });
    expect(silences[0]!.endsAt - silences[0]!.startsAt).toBe(3_600_000);
    // Listed under the alerts with what it covers and who set it.
    await page
      .locator('#windows li.active', { hasText: 'In force: device env-a1, rule noise_peak — until' })
      .waitFor({ timeout: 10_000 });
    expect(await page.locator('#windows li.active').textContent()).toContain('(li.wei');
  });

  it('shows hostile texts in alerts literally and runs none of them', async () => {
    await publish('env-q1', { noise_peak: 150 });
    const alert = await firing('noise_peak.env-q1');
    const acked = await hub.api(`/api/v1/alerts/${alert.id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: HOSTILE, comment: '<script>window.__pwned=3</script>' }),
    });
    expect(acked.status).toBe(200);
    const shown = page.locator(`li[data-alert="${alert.id}"] .acked`);
    await shown.waitFor({ timeout: 10_000 });
    expect(await shown.textContent()).toMatch(
      /^Acknowledged by <img src=x onerror="window.__pwned=1"> .* — <script>window.__pwned=3<\/script>$/,
    );
    await assertNothingRan();
  });

  it('fits a wall screen and a phone; screenshots are saved', async () => {
    await page.screenshot({ path: join(ARTIFACTS, 'floor-page.png'), fullPage: true });
    // Open alerts above the fold on the wall screen and on the phone.
    expect((await page.locator('#alerts').boundingBox())?.y).toBeLessThan(1000 / 2);
    // At 1,400 px the device table's last column is on screen, not clipped.
    await page.setViewportSize({ width: 1400, height: 900 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1400);
    // Polled: the live page may be redrawing the table just then, and a replaced cell has no box.
    const lastColumnEnd = async () => {
      const box = await page.locator('[data-group="floor-a"] thead th').last().boundingBox();
      return box ? box.x + box.width : Infinity;
    };
    await expect.poll(lastColumnEnd).toBeLessThanOrEqual(1400);
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect((await page.locator('#alerts').boundingBox())?.y).toBeLessThan(844 / 2);
    expect(await page.locator('[data-zone="floor-a"] .value').first().isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'floor-page-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1600, height: 1000 });
  });

  it('draws the floor plan: zones in their tiles’ state, seats in their equipment’s, and opens what is selected', async () => {
    const plan = page.locator('#plan svg.plan');
    await plan.waitFor();
    // The tiles are live and the plan is redrawn every few seconds: polled until both say the same.
    for (const zone of ['floor-a', 'quiet-1', 'server-room']) {
      const states = async () => {
        const tile = await page.locator(`#zones .zone[data-zone="${zone}"]`).getAttribute('class');
        const drawn = await plan.locator(`[data-plan-zone="${zone}"]`).getAttribute('class');
        return [drawn, `plan-zone ${/compliance-\S+/.exec(tile ?? '')?.[0]}`];
      };
      await expect
        .poll(async () => new Set(await states()).size, {
          timeout: 10_000,
          message: `${zone} on the plan as on its tile`,
        })
        .toBe(1);
    }
    expect(await plan.locator('[data-plan-zone="server-room"]').getAttribute('class')).toBe(
      'plan-zone compliance-critical',
    );
    expect(await plan.locator('text.plan-label').allTextContents()).toEqual([
      'Floor A — calls',
      HOSTILE,
      'Server room',
    ]);
    expect(await plan.locator('[data-plan-position="A-01"]').getAttribute('class')).toBe('plan-position state-ok');
    expect(await plan.locator('[data-plan-position="A-02"]').getAttribute('class')).toBe('plan-position state-empty');
    expect(await plan.locator('[data-plan-position="A-01"] title').textContent()).toBe(
      'A-01: equipment online — hs-1 (headset, ok)',
    );
    // The plan image, fetched with the page's token and shown as a picture: its script never runs.
    expect(await plan.locator('image').getAttribute('href')).toMatch(/^blob:/);
    const image = await hub.api('/api/v1/layout/background');
    expect(image.headers.get('content-type')).toBe('image/svg+xml');
    expect(image.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    const { layout } = await hub.json<{ layout: { positions: Array<{ position: string; state: string }> } }>(
      '/api/v1/layout',
    );
    expect(layout.positions.map((p) => [p.position, p.state])).toEqual([
      ['A-01', 'ok'],
      ['A-02', 'empty'],
      ['SR-1', expect.stringMatching(/^(ok|offline)$/)],
    ]);

    const heartbeat = (status: string) =>
      device.publishAsync('floorwatch/devices/hs-1/heartbeat', JSON.stringify({ kind: 'headset', status }), { qos: 1 });
    // A heartbeat that changes no seat leaves the plan as drawn, and the keyboard focus in it where it was.
    const planLoad = () =>
      page.evaluate(() => {
        const [mark] = performance.getEntriesByName('floor-plan-loaded') as unknown as Array<{
          startTime: number;
          detail: { drawn: boolean };
        }>;
        return mark && { at: mark.startTime, drawn: mark.detail.drawn };
      });
    // The server room's sensor reports now, so its seat stays as drawn for this test's few seconds.
    await publish('env-s1', { temperature: 31 });
    await heartbeat('ok');
    await plan.locator('[data-plan-position="SR-1"].state-ok').waitFor({ timeout: 10_000 });
    const drawn = await planLoad();
    await plan.locator('[data-plan-zone="server-room"]').focus();
    await heartbeat('ok');
    const next = await eventually(
      async () => {
        const load = await planLoad();
        return load && drawn && load.at > drawn.at ? load : undefined;
      },
      { what: 'the plan loaded again after the heartbeat', timeoutMs: 10_000 },
    );
    expect(next.drawn).toBe(false);
    expect(await page.evaluate("document.activeElement?.getAttribute('data-plan-zone')")).toBe('server-room');

    // A headset at fault turns its seat's dot without a reload of the page.
    await heartbeat('fault');
    await plan.locator('[data-plan-position="A-01"].state-fault').waitFor({ timeout: 10_000 });
    // Selecting a seat finds its devices; selecting a zone by keyboard brings its tile.
    await plan.locator('[data-plan-position="A-01"]').click();
    const found = page.locator('#devices tbody tr');
    await eventually(async () => (await found.count()) === 1, { what: 'the seat’s devices' });
    expect(await found.getAttribute('data-device')).toBe('hs-1');
    await plan.locator('[data-plan-zone="server-room"]').focus();
    await page.keyboard.press('Enter');
    expect(await page.evaluate("document.activeElement?.getAttribute('data-zone')")).toBe('server-room');
    await assertNothingRan();
    await heartbeat('ok');
    await page.locator('#device-filter').fill('');
  });

  it('draws the plan again once its image comes, when the first fetch of it failed', async () => {
    const other = await browser.context.newPage();
    let refused = 0;
    await other.route('**/api/v1/layout/background', (route) =>
      refused++ === 0 ? route.fulfill({ status: 503, body: '' }) : route.continue(),
    );
    try {
      await other.goto(`${hub.hub.url}/`);
      const plan = other.locator('#plan');
      await plan.locator('[data-plan-zone="server-room"]').waitFor({ timeout: 10_000 });
      expect(await plan.locator('image').count()).toBe(0);
      // The plan is asked for again on heartbeats, at most every 5 s.
      await eventually(
        async () => {
          await device.publishAsync(
            'floorwatch/devices/hs-1/heartbeat',
            JSON.stringify({ kind: 'headset', status: 'ok' }),
            { qos: 1 },
          );
          return (await plan.locator('image').count()) > 0 || undefined;
        },
        { what: 'the plan drawn with its image', timeoutMs: 15_000 },
      );
      expect(await plan.locator('image').getAttribute('href')).toMatch(/^blob:/);
      expect(refused).toBeGreaterThan(1);
    } finally {
      await other.close();
    }
  });

  it('takes the feed token as ?access_token= on /api/v1/events only', async () => {
    const token = new ApiTokens(hub.dataDir).create('wall-screen', 'operator', Date.now());
    const events = (query: string) => {
      const abort = new AbortController();
      return hub.api(`/api/v1/events${query}`, { signal: abort.signal }).finally(() => abort.abort());
    };
    const ok = await events(`?access_token=${encodeURIComponent(token)}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/event-stream');
    expect((await events('?access_token=fwt_not-a-token')).status).toBe(401);
    expect((await events('')).status).toBe(401);
    expect((await hub.api(`/api/v1/devices?access_token=${encodeURIComponent(token)}`)).status).toBe(401);
    expect((await hub.api('/')).status).toBe(200);
  });

  it('asks for a token once the hub has them, then works live with it', async () => {
    const token = new ApiTokens(hub.dataDir).create('floor-lead', 'operator', Date.now());
    await page.reload();
    await page.locator('#sign-in').waitFor();
    expect(await page.locator('#floor').isHidden()).toBe(true);
    await page.fill('#token', 'fwt_wrong');
    await page.press('#token', 'Enter');
    await page.locator('#sign-in-error', { hasText: 'not accepted' }).waitFor();
    await page.fill('#token', token);
    await page.press('#token', 'Enter');
    await page.locator('#floor').waitFor();
    await page.locator('#live', { hasText: 'Live' }).waitFor();
    await publish('env-a2', { co2: 987 });
    await page
      .locator('[data-zone="floor-a"] [data-metric="co2"] .value', { hasText: /^987$/ })
      .waitFor({ timeout: 10_000 });
    expect(await page.evaluate("sessionStorage.getItem('floorwatch.token')")).toBe(token);
    await assertNothingRan();
  });
});
