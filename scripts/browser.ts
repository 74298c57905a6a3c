// Debian's chromium through playwright-core, as every browser test and `npm run screenshot` start
// it: headless, with a profile of its own, nothing fetched from the network behind anyone's back.
import { chromium, type BrowserContext } from 'playwright-core';

export function launchChromium(
  profile: string,
  options: { viewport?: { width: number; height: number }; args?: string[] } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ...(options.viewport && { viewport: options.viewport }),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...(options.args ?? []),
    ],
  });
}
