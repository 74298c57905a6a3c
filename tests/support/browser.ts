// Chromium for the browser tests: scripts/browser.ts's, on a profile of its own in a temp dir that
// is removed once the browser has exited.
import { rmSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../../scripts/browser.ts';
import { afterAll, beforeAll } from 'vitest';
import { startTestHub, tempDir, type TestHub } from './hub.ts';

export interface TestBrowser {
  context: BrowserContext;
  /** The page the browser opened with. */
  page: Page;
  close(): Promise<void>;
}

export async function testBrowser(options: Parameters<typeof launchChromium>[1] = {}): Promise<TestBrowser> {
  const profile = tempDir('floorwatch-chromium-');
  const removeProfile = () => rmSync(profile, { recursive: true, force: true });
  try {
    const context = await launchChromium(profile, options);
    return {
      context,
      page: context.pages()[0] ?? (await context.newPage()),
      close: async () => {
        try {
          await context.close();
        } finally {
          removeProfile();
        }
      },
    };
  } catch (err) {
    removeProfile();
    throw err;
  }
}

/**
 * A hub and a browser on a wall screen's viewport, for the tests of one `describe`: started before
 * them and stopped after. Read `hub` and `browser` inside the tests.
 */
export function hubAndBrowser(options?: Parameters<typeof startTestHub>[0]): { hub: TestHub; browser: TestBrowser } {
  const parts = {} as { hub: TestHub; browser: TestBrowser };
  beforeAll(async () => {
    parts.hub = await startTestHub(options);
    parts.browser = await testBrowser({ viewport: { width: 1400, height: 900 } });
  });
  afterAll(async () => {
    // A start that failed left them unset.
    await parts.browser?.close();
    await parts.hub?.dispose();
  });
  return parts;
}
