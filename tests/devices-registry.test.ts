// The device list's snapshot: written when something changed, at most every SAVE_INTERVAL_MS
// (a floor heard every second would otherwise rewrite it every second), at once when forced
// (the hub stopping), and read back by the next start.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('is written only when something changed, at most every interval, and at once when forced', async () => {
    dir = tempDir('floorwatch-registry-');
    const path = join(dir, 'devices.json');
    const saved = () => JSON.parse(readFileSync(path, 'utf8')) as Array<{ id: string; lastSeen: number }>;
    const registry = new DeviceRegistry([], path);

    registry.apply([heard('hasOwnProperty', T0)]);
    await registry.save(T0);
    expect(saved()).toEqual([expect.objectContaining({ id: 'hasOwnProperty', lastSeen: T0 })]);

    // Heard every second: the snapshot waits for the interval.
    for (let s = 1; s < SAVE_INTERVAL_MS / 1000; s++) {
      registry.apply([heard('hasOwnProperty', T0 + s * 1000)]);
      await registry.save(T0 + s * 1000);
    }
    expect(saved()[0]?.lastSeen).toBe(T0);
    registry.apply([heard('toString', T0 + SAVE_INTERVAL_MS)]);
    await registry.save(T0 + SAVE_INTERVAL_MS);
    expect(saved().map((d) => [d.id, d.lastSeen])).toEqual([
      ['hasOwnProperty', T0 + SAVE_INTERVAL_MS - 1000],
      ['toString', T0 + SAVE_INTERVAL_MS],
    ]);

    // Nothing new: not written again, not even when forced.
    rmSync(path);
    await registry.save(T0 + 3 * SAVE_INTERVAL_MS);
    await registry.save(T0 + 3 * SAVE_INTERVAL_MS, true);
    expect(existsSync(path)).toBe(false);

    // Something new, forced (the hub stopping): written within the interval.
    registry.apply([heard('constructor', T0 + 3 * SAVE_INTERVAL_MS + 1)]);
    await registry.save(T0 + 3 * SAVE_INTERVAL_MS + 1, true);
    const next = new DeviceRegistry([], path);
    expect(next.list(T0 + 3 * SAVE_INTERVAL_MS).map((d) => d.id)).toEqual([
      'constructor',
      'hasOwnProperty',
      'toString',
    ]);
  });

  it('starts from a snapshot that is not a list set aside, and says so', async () => {
    dir = tempDir('floorwatch-registry-');
    const path = join(dir, 'devices.json');
    for (const [n, damaged] of ['', '\u0000\u0000', '{}', '[{"id":"d-1"', 'null'].entries()) {
      writeFileSync(path, damaged);
      const registry = new DeviceRegistry([], path, T0 + n);
      expect(registry.list(T0)).toEqual([]);
      expect(registry.snapshotProblem).toMatch(/^is not a list of devices, set aside as .*devices\.json\.unreadable-/);
      expect(existsSync(path)).toBe(false);
      // The next snapshot is written afresh.
      registry.apply([heard('p-1', T0)]);
      await registry.save(T0, true);
      expect(new DeviceRegistry([], path).list(T0).map((d) => d.id)).toEqual(['p-1']);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('devices.json.unreadable-'))).toHaveLength(5);
  });

  it('leaves out the records that are not a device’s, and the fields of the wrong type', () => {
    dir = tempDir('floorwatch-registry-');
    const path = join(dir, 'devices.json');
    writeFileSync(
      path,
      JSON.stringify([
        null,
        { id: '__proto__', zone: 'floor-a', metrics: [] },
        { id: 'd-1', zone: '', fw: '1.2\u001b[2J' },
        { id: 'd-2', zone: 7, metrics: 'abc', lastSeen: 'yesterday', status: 'on fire', kind: 'toaster' },
        {
          id: 'constructor',
          zone: 'floor-a',
          metrics: ['co2', 3, 'bad name!', 'noise'],
          status: 'fault',
          lastHeartbeat: T0,
          // Parsed, so "__proto__" is a key of its own, as in a file.
          components: JSON.parse(
            '{"toString":{"state":"fault","code":"E1"},"__proto__":{"state":"ok"},"bad":"x"}',
          ) as unknown,
        },
      ]),
    );
    const registry = new DeviceRegistry([], path);
    expect(registry.snapshotProblem).toBe("holds 2 records that are not a device's, left out");
    expect(registry.list(T0).map((d) => [d.id, d.zone, d.metrics, d.status, d.kind, d.lastSeen])).toEqual([
      ['constructor', 'floor-a', ['co2', 'noise'], 'fault', null, null],
      ['d-1', null, [], null, null, null],
      ['d-2', null, [], null, null, null],
    ]);
    expect(registry.get('constructor', T0)?.components).toEqual({ toString: { state: 'fault', code: 'E1' } });
    // A firmware version with a terminal's escapes, kept from before ingest left such out, is not shown.
    expect(registry.get('d-1', T0)?.fw).toBeNull();
    registry.apply([
      {
        type: 'heartbeat',
        heartbeat: { device: 'd-1', zone: '', ts: T0, status: 'ok', components: {}, fw: '1.3\u202e' },
      },
    ]);
    expect(registry.get('d-1', T0)?.fw).toBeNull();
    expect([...registry.namesUsed()].map((n) => [n.id, n.metrics, n.components]).sort()).toEqual([
      ['constructor', ['co2', 'noise'], ['toString']],
      ['d-1', [], []],
      ['d-2', [], []],
    ]);
  });
});
