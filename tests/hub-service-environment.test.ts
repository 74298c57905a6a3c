// libuv's threads serve the journal's fsync and DNS lookups alike: `npm start` gives the hub
// sixteen, and a hub started with fewer than eight says so, naming what to set.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnHub, tempDir, type HubProcess } from './support/hub.ts';

const WARNING = /threads? for disk writes and DNS lookups \(UV_THREADPOOL_SIZE\).*set UV_THREADPOOL_SIZE=16/;

describe('the threads for disk writes and DNS lookups', () => {
  let hub: HubProcess | undefined;
  afterEach(async () => {
    hub?.child.kill('SIGTERM');
    await hub?.exited;
    hub = undefined;
  });

  it('are sixteen under npm start', () => {
    const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(scripts['start']).toMatch(/^UV_THREADPOOL_SIZE=\$\{UV_THREADPOOL_SIZE:-16\} /);
  });

  it("are Node's four otherwise, and the hub says so in its log", async () => {
    hub = await spawnHub(tempDir(), { env: { UV_THREADPOOL_SIZE: '4' } });
    expect(hub.output()).toMatch(WARNING);
  });

  it('are one when the setting cannot be read as a number, as libuv reads it', async () => {
    hub = await spawnHub(tempDir(), { env: { UV_THREADPOOL_SIZE: 'sixteen' } });
    expect(hub.output()).toMatch(/the hub runs with 1 thread for disk writes/);
    expect(hub.output()).toMatch(WARNING);
  });

  it('bring no warning when there are enough', async () => {
    hub = await spawnHub(tempDir());
    expect(hub.output()).toMatch(/floorwatch hub ready/);
    expect(hub.output()).not.toMatch(WARNING);
  });
});
