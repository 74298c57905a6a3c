// Chromium for the browser tests: scripts/browser.ts's, on a profile of its own in a temp dir that
// is removed once the browser has exited.
import { rmSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../../scripts/browser.ts';
import { tempDir } from './hub.ts';

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
