// `npm run screenshot -- [hub URL] [file.png] [--token fwt_…]`: the floor page as a wall screen
// (1600 × 1000) shows it, taken once it shows data rather than "Connecting…". The README's picture
// is taken this way by tests/readme-screenshot.test.ts, against the demo floor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { launchChromium } from './browser.ts';

export const WALL_SCREEN = { width: 1600, height: 1000 };

/** Opens the floor page, waits until it shows data, and saves what a wall screen shows of it. */
export async function captureFloorPage(page: Page, url: string, file: string, timeoutMs = 60_000): Promise<void> {
  await page.goto(url);
  const timeout = { timeout: timeoutMs };
  // Data, not "Connecting…": the first load is done (tiles, charts, plan), the feed is live, a zone
  // shows a value (or the first-run note shows) and devices are listed (as zone groups or rows).
  // A function, not a string: the page's CSP allows no eval.
  try {
    await page.waitForFunction(() => performance.getEntriesByName('floor-loaded').length > 0, undefined, timeout);
    await page.locator('#live', { hasText: /^Live$/ }).waitFor(timeout);
    const value = page.locator('#zones .zone .value').filter({ hasText: /\d/ });
    await value.or(page.locator('#no-zones')).first().waitFor(timeout);
    await page.locator('#devices summary').first().waitFor(timeout);
  } catch (err) {
    const says = await page
      .locator('#live')
      .textContent({ timeout: 1000 })
      .catch(() => null);
    throw new Error(
      `the floor page at ${url} did not show live data within ${timeoutMs / 1000} s (it says "${says ?? 'nothing'}"): ${(err as Error).message.split('\n')[0]}`,
    );
  }
  await page.screenshot({ path: file });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { token: { type: 'string' } },
    allowPositionals: true,
  });
  const url = positionals[0] ?? 'http://127.0.0.1:8080/';
  const file = resolve(positionals[1] ?? 'floor-page.png');
  const profile = mkdtempSync(join(tmpdir(), 'floorwatch-screenshot-'));
  const browser = await launchChromium(profile, { viewport: WALL_SCREEN });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    if (values.token !== undefined)
      await browser.addInitScript({
        content: `sessionStorage.setItem('floorwatch.token', ${JSON.stringify(values.token)});`,
      });
    process.stdout.write(`Waiting for ${url} to show live data…\n`);
    await captureFloorPage(page, url, file);
    process.stdout.write(`Saved ${file}\n`);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  main().catch((err: unknown) => {
    process.stderr.write(`screenshot: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
