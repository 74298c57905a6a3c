// The data disk's free space for the rules' tick: read in the background, the last answer given.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskSpace } from '../hub/telemetry/disk-space.ts';

describe('DiskSpace', () => {
  it('answers at once with the last reading, none before the first has come back', async () => {
    const disk = new DiskSpace(tmpdir());
    expect(disk.freePercent()).toBeUndefined();
    // The rules' first tick waits for this one.
    await disk.firstRead;
    const percent = disk.freePercent();
    expect(percent).toBeGreaterThan(0);
    expect(percent).toBeLessThanOrEqual(100);
  });

  it('has no reading of a disk it cannot read', async () => {
    const disk = new DiskSpace(join(tmpdir(), 'no-such-dir-for-floorwatch'));
    await disk.firstRead;
    expect(disk.freePercent()).toBeUndefined();
  });
});
