// What the environment that starts the hub gives it (the Docker image's is in compose.test.ts):
// libuv's threads, which serve the journal's fsync and DNS lookups alike (`npm start` gives the hub
// sixteen, and a hub started with fewer than eight says so, naming what to set), and a bound on
// its JavaScript heap (`npm start` sets 2000 MB, and a hub left to V8's default, which lets garbage
// pile up longer, says so).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnHub, tempDir, type HubProcess } from './support/hub.ts';

const THREADS_WARNING = /threads? for disk writes and DNS lookups \(UV_THREADPOOL_SIZE\).*set UV_THREADPOOL_SIZE=16/;
const HEAP_WARNING =
  /JavaScript heap is bounded only by this machine's memory \(\d+ MB\).*set NODE_OPTIONS to --max-old-space-size=2000 --max-semi-space-size=16 /;

describe('the environment that starts the hub', () => {
  let hub: HubProcess | undefined;
  afterEach(async () => {
    hub?.child.kill('SIGTERM');
    await hub?.exited;
    hub = undefined;
  });
  const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };

  it('gives sixteen threads for disk writes and DNS lookups under npm start', () => {
    expect(scripts['start']).toMatch(/^UV_THREADPOOL_SIZE=\$\{UV_THREADPOOL_SIZE:-16\} /);
  });

  it("gives Node's four threads otherwise, and the hub says so in its log", async () => {
    hub = await spawnHub(tempDir(), { env: { UV_THREADPOOL_SIZE: '4' } });
    expect(hub.output()).toMatch(THREADS_WARNING);
  });

  it('gives one thread when the setting cannot be read as a number, as libuv reads it', async () => {
    hub = await spawnHub(tempDir(), { env: { UV_THREADPOOL_SIZE: 'sixteen' } });
    expect(hub.output()).toMatch(/the hub runs with 1 thread for disk writes/);
    expect(hub.output()).toMatch(THREADS_WARNING);
  });

  it('bounds the heap at 2000 MB under npm start, unless NODE_OPTIONS says otherwise', () => {
    expect(scripts['start']).toMatch(
      / NODE_OPTIONS=\$\{NODE_OPTIONS:---max-old-space-size=2000 --max-semi-space-size=16\} tsx /,
    );
  });

  it('has the hub say so when nothing bounds its heap but the machine', async () => {
    hub = await spawnHub(tempDir(), { env: { NODE_OPTIONS: '' } });
    expect(hub.output()).toMatch(HEAP_WARNING);
  });

  it("takes a bound given on node's command line as the one chosen", async () => {
    hub = await spawnHub(tempDir(), { env: { NODE_OPTIONS: '' }, nodeArgs: ['--max-old-space-size=3000'] });
    expect(hub.output()).toMatch(/floorwatch hub ready/);
    expect(hub.output()).not.toMatch(HEAP_WARNING);
  });

  it('brings no warning when there are enough threads and the heap has its bound', async () => {
    hub = await spawnHub(tempDir());
    expect(hub.output()).toMatch(/floorwatch hub ready/);
    expect(hub.output()).not.toMatch(THREADS_WARNING);
    expect(hub.output()).not.toMatch(HEAP_WARNING);
  });
});
