// The README's picture of the floor page, taken as `npm run screenshot` takes it: the demo floor
// (sensors-firmware-sim/demo-floor.yaml) run for its first fifteen minutes on a real hub, then the
// page in Debian's chromium once it shows data. Written to docs/floor-page.png.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureFloorPage, WALL_SCREEN } from '../scripts/screenshot.ts';
import { startFloorRun, type FloorRun } from './support/floor-run.ts';
import { testBrowser } from './support/browser.ts';

const ROOT = join(import.meta.dirname, '..');
const PICTURE = join(ROOT, 'docs', 'floor-page.png');
const MINUTES = 15;

describe('the README screenshot', () => {
  let run: FloorRun;

  beforeAll(async () => {
    const fleet = parse(readFileSync(join(ROOT, 'sensors-firmware-sim', 'demo-floor.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    // Simulated time ends now, so the page's "last hour" and "ago" read as on a live floor.
    run = await startFloorRun({ fleet, start: Date.now() - MINUTES * 60_000 });
    await run.advanceTo(MINUTES);
  }, 180_000);

  afterAll(async () => {
    await run?.stop();
  });

  it('is the demo floor with data, its plan drawn and the server room’s alert open', async () => {
    const browser = await testBrowser({ viewport: WALL_SCREEN });
    try {
      const page = browser.page;
      await captureFloorPage(page, `${run.hub.hub.url}/`, PICTURE);
      expect(await page.locator('#live').textContent()).toBe('Live');
      expect(await page.locator('#plan [data-plan-zone]').count()).toBe(run.fleet.zones.length);
      // Every seat of the demo has its headset, phone and PC placed on the plan.
      expect(await page.locator('#plan [data-plan-position].state-empty').count()).toBe(0);
      expect(await page.locator('#zones .zone[data-zone="server-room"]').getAttribute('class')).toMatch(
        /compliance-(warning|critical)/,
      );
      expect(await page.locator('#alert-list li').count()).toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
    // A PNG of the wall screen's size: the IHDR chunk holds width and height.
    const png = readFileSync(PICTURE);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([WALL_SCREEN.width, WALL_SCREEN.height]);
  });
});
