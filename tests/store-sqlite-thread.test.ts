// The SQLite store's read thread finds its loader and its code from where the hub is installed,
// not from the directory it was started in: a service manager often starts it from /.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../hub/store/sqlite.ts';

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
      const store = new SqliteStore({ path: ${JSON.stringify(path)}, readThread: true });
      console.log(await store.count({ from: 0, to: ${now} }));
      await store.close();`;
    const { stdout } = await run(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], {
      cwd: dir,
    });
    expect(stdout.trim()).toBe('1');
  });
});
