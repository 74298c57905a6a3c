// The SQLite store's read thread: while a chart over weeks of a zone is read, the hub goes on
// acknowledging devices' readings; and the thread finds its loader and its code from where the
// hub is installed, not from the directory it was started in (a service manager often uses /).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../hub/store/sqlite.ts';
import { startTestHub } from './support/hub.ts';

const run = promisify(execFile);

describe('the SQLite read thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'floorwatch-thread-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads for a hub started from a directory that holds no floorwatch', async () => {
    const path = join(dir, 'readings.sqlite');
    const now = Date.now();
    const store = new SqliteStore({ path });
    await store.init();
    await store.write([{ device: 'd1', metric: 'noise', ts: now - 1000, value: 40, zone: 'z1' }]);
    await store.close();
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const sqlite = pathToFileURL(join(import.meta.dirname, '..', 'hub', 'store', 'sqlite.ts')).href;
    const script = `import { SqliteStore } from ${JSON.stringify(sqlite)};
      const store = new SqliteStore({ path: ${JSON.stringify(path)}, readThreads: true });
      console.log(await store.count({ from: 0, to: ${now} }));
      await store.close();`;
    const { stdout } = await run(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], {
      cwd: dir,
    });
    expect(stdout.trim()).toBe('1');
  });

  it('acknowledges a device’s readings while a chart over weeks of a zone is read', async () => {
    const dataDir = join(dir, 'hub');
    mkdirSync(dataDir);
    const DAY = 86_400_000;
    const now = Date.now();
    const store = new SqliteStore({ path: join(dataDir, 'readings.sqlite') });
    await store.init();
    await store.write(
      Array.from({ length: 50 }, (_, d) =>
        Array.from({ length: 6000 }, (_, i) => ({
          device: `d${d}`,
          metric: 'noise',
          ts: now - 20 * DAY + i * 288_000,
          value: 40 + (i % 9),
          zone: 'z1',
        })),
      ).flat(),
    );
    await store.close();
    const hub = await startTestHub({ dataDir, config: { zones: [{ id: 'z1', type: 'call_floor' }] } });
    try {
      const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'probe-1', reconnectPeriod: 0 });
      let answered = false;
      const chart = hub.api('/api/v1/readings?zone=z1&metric=noise&from=-21d&agg=mean&every=1h').then((r) => {
        answered = true;
        return r;
      });
      // Read on the hub's own thread, the chart held every acknowledgement until it was answered.
      let acknowledged = 0;
      while (!answered) {
        await client.publishAsync('floorwatch/devices/probe-1/telemetry', JSON.stringify({ temperature: 21 }), {
          qos: 1,
        });
        if (!answered) acknowledged++;
      }
      const response = await chart;
      expect(response.status).toBe(200);
      expect(((await response.json()) as { points: unknown[] }).points.length).toBeGreaterThan(400);
      // None, were the chart read on the hub's thread; how many more than a few depends on how the
      // machine's disk (each PUBACK waits for an fsync) compares with its CPU.
      expect(acknowledged).toBeGreaterThanOrEqual(3);
      await client.endAsync();
    } finally {
      await hub.dispose();
    }
  });
});
