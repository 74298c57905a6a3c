// What the environment that starts the hub gives it (hub/service-environment.ts; the Docker
// image's is in compose.test.ts): libuv's threads, which serve the journal's fsync and DNS lookups
// alike (`npm start` gives the hub sixteen, and a hub started with fewer than eight says so, naming
// what to set), and bounds on its JavaScript heap (`npm start` sets them, and a hub left to V8's
// defaults, which let garbage pile up longer, says so).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVICE_ENVIRONMENT, serviceEnvironmentWarnings } from '../hub/service-environment.ts';
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

  it('is what npm start sets, but for the malloc arenas', () => {
    const { UV_THREADPOOL_SIZE, NODE_OPTIONS } = SERVICE_ENVIRONMENT;
    expect(scripts['start']).toContain(`UV_THREADPOOL_SIZE=\${UV_THREADPOOL_SIZE:-${UV_THREADPOOL_SIZE}} `);
    expect(scripts['start']).toContain(`NODE_OPTIONS=\${NODE_OPTIONS:-${NODE_OPTIONS}} `);
  });

  describe('what a hub says of it, worked out from what node was given', () => {
    const MB = 2 ** 20;
    const warnings = (nodeOptions: string | undefined, execArgv: string[], heapLimitMb: number) =>
      serviceEnvironmentWarnings({
        env: { UV_THREADPOOL_SIZE: '16', NODE_OPTIONS: nodeOptions },
        execArgv,
        heapLimitBytes: heapLimitMb * MB,
      });

    it("names a young generation left to Node 24's size, and not Node 20's", () => {
      // Node 24: the old generation's 2000 MB and three halves of 64 MB; Node 20: of 16 MB.
      expect(warnings('--max-old-space-size=2000', [], 2000 + 3 * 64)).toEqual([
        expect.stringMatching(
          /each half of the hub's young generation grow to 64 MB.*set NODE_OPTIONS to --max-old-space-size=2000 --max-semi-space-size=16 /,
        ),
      ]);
      expect(warnings('--max-old-space-size=2000', [], 2000 + 3 * 16)).toEqual([]);
      expect(warnings(SERVICE_ENVIRONMENT.NODE_OPTIONS, [], 2000 + 3 * 16)).toEqual([]);
    });

    it("takes the bound node takes: the command line's over NODE_OPTIONS, the last of each, either spelling", () => {
      // Read as 1000 MB, the rest of 1192 MB is a young generation of 64 MB halves; as 2000, none.
      expect(warnings('--max-old-space-size=2000', ['--max_old_space_size=1000'], 1192)).toHaveLength(1);
      expect(warnings('--max-old-space-size=1000 --max-old-space-size=2000', [], 2048)).toEqual([]);
    });

    it('reads names and values from outside as text only', () => {
      for (const hostile of ['__proto__', 'constructor', 'toString', '--max-old-space-size=toString'])
        expect(() => warnings(hostile, [hostile], 4144)).not.toThrow();
      expect(warnings('__proto__ constructor', [], 4144)).toEqual([expect.stringMatching(/bounded only by/)]);
      expect(
        serviceEnvironmentWarnings({
          env: { UV_THREADPOOL_SIZE: '__proto__' },
          execArgv: [],
          heapLimitBytes: 1072 * MB,
        }),
      ).toEqual([expect.stringMatching(/runs with 1 thread/), expect.stringMatching(/bounded only by/)]);
    });
  });

  it('brings no warning when there are enough threads and the heap has its bound', async () => {
    hub = await spawnHub(tempDir());
    expect(hub.output()).toMatch(/floorwatch hub ready/);
    expect(hub.output()).not.toMatch(THREADS_WARNING);
    expect(hub.output()).not.toMatch(HEAP_WARNING);
  });
});
