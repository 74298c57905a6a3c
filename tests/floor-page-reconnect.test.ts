// The floor page when the hub refuses its live feed (here at limits.max_event_streams; a token
// over its own bound or no longer accepted is refused the same way): the browser does not try an
// event stream again after a refusal, so the page does, waiting longer each time, and it is live
// again by itself once the hub takes the feed. Before, it showed "Reconnecting…" until reloaded.
// Once the feed is back the page loads the floor anew; a sign-out while that load is on its way
// keeps the page signed out.
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { hubAndBrowser } from './support/browser.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { eventually } from './support/hub.ts';

describe('the floor page after its live feed was refused', () => {
  const parts = hubAndBrowser({ config: { limits: { max_event_streams: 1 } } });

  it('says so, asks again later, and is live again once the hub has room', async () => {
    const { hub, browser } = parts;
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1', reconnectPeriod: 0 });
    await client.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ temperature: 23.4 }), { qos: 1 });
    await eventually(async () => (await hub.json<{ metrics: string[] }>('/api/v1/devices/t-1')).metrics.length > 0);

    // Another screen holds the hub's one live feed.
    const other = new AbortController();
    const held = await hub.api('/api/v1/events', { signal: other.signal });
    expect(held.status).toBe(200);

    const page = browser.page;
    await page.goto(hub.hub.url);
    const live = page.locator('#live');
    await expect
      .poll(() => live.textContent(), { timeout: 30_000 })
      .toMatch(/^Live feed refused\. Reconnecting in \d+ s…$/);
    expect(await live.getAttribute('class')).toBe('live off');

    other.abort();
    await expect.poll(() => live.textContent(), { timeout: 30_000 }).toBe('Live');
    expect(await live.getAttribute('class')).toBe('live on');

    // Live indeed: a reading arrives over the feed.
    await client.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ humidity: 41 }), { qos: 1 });
    const row = page.locator('tr[data-device="t-1"]');
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toContain('Humidity 41.0 %RH');
    await client.endAsync();
  }, 120_000);
});

describe('the floor page signed out while it loads the floor anew', () => {
  const parts = hubAndBrowser();

  it('stays signed out when the load comes back', async () => {
    const { hub, browser } = parts;
    const token = new ApiTokens(hub.dataDir).create('floor-lead', 'operator', Date.now());
    const page = browser.page;
    // The first live feed fails on the network; the one after it opens, and the page loads the
    // floor again for what it may have missed. Its floor plan answers only when let go.
    let feeds = 0;
    await page.route('**/api/v1/events*', async (route) =>
      ++feeds === 1 ? route.abort('connectionreset') : route.continue(),
    );
    let plansAsked = 0;
    let letGo: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    await page.route('**/api/v1/layout*', async (route) => {
      if (++plansAsked === 2) await held;
      await route.continue();
    });
    await page.goto(hub.hub.url);
    await page.locator('#sign-in').waitFor();
    await page.fill('#token', token);
    await page.press('#token', 'Enter');
    await page.locator('#floor').waitFor();
    await eventually(() => plansAsked === 2, { what: 'the floor loaded again once the feed opened' });

    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor();
    await page.evaluate(`{
      const floor = document.getElementById('floor');
      window.floorShown = false;
      new MutationObserver(() => { if (!floor.hidden) window.floorShown = true; })
        .observe(floor, { attributes: true, attributeFilter: ['hidden'] });
    }`);
    letGo();
    // Polled from outside the page: its CSP refuses the eval that waitForFunction polls with.
    await expect
      .poll(() => page.evaluate("performance.getEntriesByName('floor-load-discarded').length"), { timeout: 20_000 })
      .toBe(1);
    expect(await page.evaluate('window.floorShown')).toBe(false);
    expect(await page.locator('#floor').isHidden()).toBe(true);
    expect(await page.locator('#sign-in').isVisible()).toBe(true);
    expect(await page.evaluate("sessionStorage.getItem('floorwatch.token')")).toBeNull();
  }, 60_000);
});
