// The floor page on a first run, in a real browser: no zones yet, so it says how to declare them;
// a device reporting without a zone shows its latest readings in the device list, those from
// before the page opened and those that arrive while it is open, and what its heartbeat says of
// its battery, signal and firmware.
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { hubAndBrowser } from './support/browser.ts';
import { eventually, storeCaughtUp } from './support/hub.ts';

// Chromium shares two cores with the other test files, the 10,000-device floor among them: the
// page's batched reloads can take seconds each, so the test is given minutes, each step its own bound.
describe('the floor page on a first run', () => {
  const parts = hubAndBrowser();

  it('says how to declare zones, and shows an unzoned device’s readings with their units', async () => {
    const { hub, browser } = parts;
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 't-1', reconnectPeriod: 0 });
    await client.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ temperature: 23.4 }), { qos: 1 });
    await storeCaughtUp(hub);
    await eventually(async () => (await hub.json<{ metrics: string[] }>('/api/v1/devices/t-1')).metrics.length > 0);

    const page = browser.page;
    await page.goto(hub.hub.url);
    const empty = page.locator('#no-zones');
    await empty.waitFor({ timeout: 30_000 });
    expect(await empty.textContent()).toContain('No zones are declared yet');
    expect(await empty.textContent()).toContain('floorwatch.yaml under zones:');
    const row = page.locator('tr[data-device="t-1"]');
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toContain('Temperature 23.4 °C');

    // A reading that arrives while the page is open joins it, over the live feed.
    await client.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ humidity: 41 }), { qos: 1 });
    await expect
      .poll(() => row.textContent(), { timeout: 20_000 })
      .toContain('Humidity 41.0 %RH · Temperature 23.4 °C');
    // What a heartbeat says of the device's own health.
    await client.publishAsync(
      'floorwatch/devices/t-1/heartbeat',
      JSON.stringify({ kind: 'sensor', status: 'ok', battery: 18, rssi: -86, fw: '2.4.1' }),
      { qos: 1 },
    );
    await expect
      .poll(() => row.textContent(), { timeout: 20_000 })
      .toContain('online · battery 18 % · signal -86 dBm · fw 2.4.1');

    // Devices in the order people number seats.
    for (const id of ['hs-a10', 'hs-a2', 'hs-a1'])
      await client.publishAsync(
        `floorwatch/devices/${id}/heartbeat`,
        JSON.stringify({ kind: 'headset', status: 'ok' }),
        { qos: 1 },
      );
    const order = async () => {
      const rows = await page.locator('#devices tbody tr').all();
      return (await Promise.all(rows.map((r) => r.getAttribute('data-device')))).join(' ');
    };
    await expect.poll(order, { timeout: 20_000 }).toBe('hs-a1 hs-a2 hs-a10 t-1');

    // Found by the hub among all devices, as typed.
    await page.locator('#device-filter').fill('HS-A1');
    await expect.poll(order, { timeout: 20_000 }).toBe('hs-a1 hs-a10');
    expect(await page.locator('#device-count').textContent()).toBe('(2 found, 2 online)');
    await page.locator('#device-filter').fill('<b>nothing</b>');
    await expect.poll(order, { timeout: 20_000 }).toBe('');
    expect(await page.locator('#device-more').textContent()).toBe(
      'No device\'s id, kind, zone or seat holds "<b>nothing</b>".',
    );
    await page.locator('#device-filter').fill('');
    await expect.poll(order, { timeout: 20_000 }).toBe('hs-a1 hs-a2 hs-a10 t-1');
    await client.endAsync();
  }, 180_000);
});
