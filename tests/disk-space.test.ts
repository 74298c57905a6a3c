// The data disk's free space for the rules' tick: read in the background, the last answer given.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskSpace } from '../hub/telemetry/disk-space.ts';
import { eventually } from './support/hub.ts';

describe('DiskSpace', () => {
  it('answers at once with the last reading, none before the first has come back', async () => {
    const disk = new DiskSpace(tmpdir());
    expect(disk.freePercent()).toBeUndefined();
    const percent = await eventually(() => disk.freePercent(), { what: 'a reading', intervalMs: 5 });
    expect(percent).toBeGreaterThan(0);
    expect(percent).toBeLessThanOrEqual(100);
  });

  it('has no reading of a disk it cannot read', async () => {
    const disk = new DiskSpace(join(tmpdir(), 'no-such-dir-for-floorwatch'));
    for (let i = 0; i < 20; i++) {
      expect(disk.freePercent()).toBeUndefined();
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
});
