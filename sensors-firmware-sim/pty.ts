// A pty pair from socat: the hub opens one end as its serial port, the simulated gateway writes
// to the other. Stopping socat removes both links, which is what the hub sees when a USB serial
// adapter is pulled out; starting it again brings them back (on new /dev/pts numbers).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** The end the hub reads. */
  readonly hubPath: string;
  /** The end the gateway writes. */
  readonly simPath: string;
  /** Ends socat: both links disappear. */
  stop(): Promise<void>;
  /** Starts socat again with the same links. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'floorwatch-pty-'));
  const hubPath = join(dir, 'hub');
  const simPath = join(dir, 'sim');
  let socat: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${hubPath}`, `pty,raw,echo=0,link=${simPath}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    socat = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let log = '';
    // socat makes both links, then says it starts its transfer loop.
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('starting data transfer loop')) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`socat exited (${code}) before the pty pair was ready:\n${log}`)));
    });
    if (!existsSync(hubPath) || !existsSync(simPath))
      throw new Error(`socat is running but the links are missing:\n${log}`);
  };

  const stop = async () => {
    const child = socat;
    socat = undefined;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };

  await start();
  return {
    hubPath,
    simPath,
    stop,
    start,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
