// The device list's snapshot: written when something changed, at most every SAVE_INTERVAL_MS
// (a floor heard every second would otherwise rewrite it every second), at once when forced
// (the hub stopping), and read back by the next start.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceRegistry, SAVE_INTERVAL_MS } from '../hub/devices/registry.ts';
import type { Entry } from '../hub/domain/reading.ts';
import { tempDir } from './support/hub.ts';

const T0 = 1_790_000_000_000;
const heard = (device: string, ts: number): Entry => ({
  type: 'readings',
  readings: [{ device, metric: 'co2', value: 700, ts, zone: 'floor-a' }],
});

describe('the device list snapshot', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written only when something changed, at most every interval, and at once when forced', () => {
    dir = tempDir('floorwatch-registry-');
    const path = join(dir, 'devices.json');
    const saved = () => JSON.parse(readFileSync(path, 'utf8')) as Array<{ id: string; lastSeen: number }>;
    const registry = new DeviceRegistry([], path);

    registry.apply([heard('__proto__', T0)]);
    registry.save(T0);
    expect(saved()).toEqual([expect.objectContaining({ id: '__proto__', lastSeen: T0 })]);

    // Heard every second: the snapshot waits for the interval.
    for (let s = 1; s < SAVE_INTERVAL_MS / 1000; s++) {
      registry.apply([heard('__proto__', T0 + s * 1000)]);
      registry.save(T0 + s * 1000);
    }
    expect(saved()[0]?.lastSeen).toBe(T0);
    registry.apply([heard('toString', T0 + SAVE_INTERVAL_MS)]);
    registry.save(T0 + SAVE_INTERVAL_MS);
    expect(saved().map((d) => [d.id, d.lastSeen])).toEqual([
      ['__proto__', T0 + SAVE_INTERVAL_MS - 1000],
      ['toString', T0 + SAVE_INTERVAL_MS],
    ]);

    // Nothing new: not written again, not even when forced.
    rmSync(path);
    registry.save(T0 + 3 * SAVE_INTERVAL_MS);
    registry.save(T0 + 3 * SAVE_INTERVAL_MS, true);
    expect(existsSync(path)).toBe(false);

    // Something new, forced (the hub stopping): written within the interval.
    registry.apply([heard('constructor', T0 + 3 * SAVE_INTERVAL_MS + 1)]);
    registry.save(T0 + 3 * SAVE_INTERVAL_MS + 1, true);
    const next = new DeviceRegistry([], path);
    expect(next.list(T0 + 3 * SAVE_INTERVAL_MS).map((d) => d.id)).toEqual(['__proto__', 'constructor', 'toString']);
  });
});
