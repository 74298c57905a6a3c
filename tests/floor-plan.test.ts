// The floor plan's pure parts: the plan image read at start and reload (an image that cannot be
// shown is said why, and the plan is drawn without it) and a position's state from its devices.
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_BACKGROUND_BYTES, positionState, readFloorPlan } from '../hub/api/layout.ts';
import type { LayoutSettings } from '../hub/config/layout.ts';
import { tempDir } from './support/hub.ts';

const dir = tempDir('floorwatch-plan-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings = (background?: string): LayoutSettings => ({
  width: 10,
  height: 5,
  units: 'm',
  zones: {},
  positions: {},
  ...(background !== undefined && { background }),
});

function read(background?: string) {
  const warnings: string[] = [];
  const plan = readFloorPlan(settings(background), { warn: (_o: unknown, m?: string) => void warnings.push(m ?? '') });
  return { plan, warnings };
}

describe('readFloorPlan', () => {
  it('is no plan without a layout, and a plan without an image without a background', () => {
    expect(readFloorPlan(undefined, { warn: () => undefined })).toBeUndefined();
    expect(read()).toEqual({ plan: { settings: settings(), background: undefined }, warnings: [] });
  });

  it('reads the image with the type its name says', () => {
    const file = join(dir, 'Floor-3.SVG');
    writeFileSync(file, '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const { plan, warnings } = read(file);
    expect(plan?.background).toEqual({
      bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      type: 'image/svg+xml',
    });
    expect(warnings).toEqual([]);
  });

  it('says why an image cannot be shown, and still gives the plan', () => {
    const big = join(dir, 'big.png');
    writeFileSync(big, '');
    truncateSync(big, MAX_BACKGROUND_BYTES + 1);
    const folder = join(dir, 'folder.png');
    mkdirSync(folder);
    for (const [file, why] of [
      [join(dir, 'missing.svg'), /cannot be read: ENOENT/],
      [big, /is 5121 KiB, more than the 5 MiB a page should fetch: export it smaller$/],
      [folder, /is not a file$/],
    ] as const) {
      const { plan, warnings } = read(file);
      expect(plan?.settings).toEqual(settings(file));
      const background = plan?.background;
      expect(background && 'problem' in background ? background.problem : '').toMatch(why);
      expect(warnings).toEqual([expect.stringMatching(/^floor plan drawn without its image: the plan image /)]);
    }
  });
});

describe('positionState', () => {
  it('is the worst of its devices: offline, then a fault, else ok; empty without any', () => {
    expect(positionState([])).toBe('empty');
    expect(
      positionState([
        { online: true, status: 'ok' },
        { online: true, status: null },
      ]),
    ).toBe('ok');
    expect(positionState([{ online: true, status: 'degraded' }])).toBe('fault');
    expect(
      positionState([
        { online: true, status: 'fault' },
        { online: false, status: 'ok' },
      ]),
    ).toBe('offline');
  });
});
