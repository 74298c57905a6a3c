// A throwaway InfluxDB 1.x server for integration tests: its own temp dir, its own 127.0.0.1
// ports, nothing left behind. Lifecycle:
//   const influx = await startInfluxd();   // running, /ping answers 204
//   await influx.stop();                   // process gone, data dir kept
//   await influx.start();                  // same port, same data: simulates a server restart
//   await influx.dispose();                // stops if running and deletes the temp dir (final)
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface InfluxdHandle {
  /** http://127.0.0.1:PORT, no trailing slash. */
  url: string;
  port: number;
  /** Temp dir holding the config, meta/data/wal dirs and influxd.log. */
  dataDir: string;
  /** The running process's id (for CPU accounting in benchmarks); undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the process (SIGTERM, SIGKILL after 10 s). Keeps the data dir so start() can resume. */
  stop(): Promise<void>;
  /** Starts again after stop(), on the same port and data dir. */
  start(): Promise<void>;
  /** Final: stops if running and removes the data dir. Safe to call twice. */
  dispose(): Promise<void>;
}

const MISSING = 'influxd is not installed: run `bash scripts/setup-test-services.sh` (as root) to install it';
const READY_TIMEOUT_MS = 20_000;
/** How long a restart on the same ports waits for a port that is busy to come free. */
const REBIND_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 10_000;

function findInfluxd(): string {
  const fromEnv = process.env['INFLUXD_BIN'];
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  const candidates = fromEnv ? [fromEnv] : dirs.filter((d) => d !== '').map((d) => join(d, 'influxd'));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  throw new Error(MISSING);
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read the port of a probe socket'));
        return;
      }
      const port = addr.port;
      srv.close(() => resolve(port));
    });
  });
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Sets `key = value` in a TOML section of influxd's generated config ('' = top level). For
 * [[array]] sections every occurrence is set. A key the section lacks is added under its header.
 */
export function setTomlKey(toml: string, section: string, key: string, value: string): string {
  const lines = toml.split('\n');
  const keyRe = new RegExp(`^\\s*${key.replace(/[-.]/g, '\\$&')}\\s*=`);
  const indent = section === '' ? '' : '  ';
  // Blocks: [start, end) line ranges; the top level runs from line 0 to the first header.
  const blocks: { name: string; start: number; end: number }[] = [];
  let current = { name: '', start: 0, end: lines.length };
  lines.forEach((line, i) => {
    const header = /^\s*\[\[?([^\]]+)\]\]?\s*$/.exec(line);
    if (!header) return;
    current.end = i;
    blocks.push(current);
    current = { name: header[1]!.trim(), start: i + 1, end: lines.length };
  });
  blocks.push(current);
  // Back to front, so inserted lines do not shift the blocks still to visit.
  for (const block of blocks.reverse()) {
    if (block.name !== section) continue;
    let found = false;
    for (let i = block.start; i < block.end; i++) {
      if (keyRe.test(lines[i]!)) {
        lines[i] = `${indent}${key} = ${value}`;
        found = true;
      }
    }
    if (!found) lines.splice(block.start, 0, `${indent}${key} = ${value}`);
  }
  return lines.join('\n');
}

/** A setting of influxd's config file: section ('' = top level), key and TOML value. */
export type InfluxdSetting = [section: string, key: string, value: string];

async function buildConfig(
  bin: string,
  dir: string,
  httpPort: number,
  rpcPort: number,
  extra: readonly InfluxdSetting[],
): Promise<string> {
  let toml = await run(bin, ['config']);
  const q = (s: string): string => JSON.stringify(s);
  const set = (section: string, key: string, value: string): void => {
    toml = setTomlKey(toml, section, key, value);
  };
  set('', 'reporting-disabled', 'true');
  // Debian's build renames the switch; harmless on builds that do not know it.
  set('', 'reporting-enabled', 'false');
  set('', 'bind-address', q(`127.0.0.1:${rpcPort}`));
  set('meta', 'dir', q(join(dir, 'meta')));
  set('data', 'dir', q(join(dir, 'data')));
  set('data', 'wal-dir', q(join(dir, 'wal')));
  set('data', 'query-log-enabled', 'false');
  set('http', 'bind-address', q(`127.0.0.1:${httpPort}`));
  set('http', 'log-enabled', 'false');
  set('http', 'pprof-enabled', 'false');
  set('http', 'unix-socket-enabled', 'false');
  // No _internal database: keeps the server's own writes out of a test run.
  set('monitor', 'store-enabled', 'false');
  set('logging', 'level', q('warn'));
  set('ifql', 'enabled', 'false');
  for (const listener of ['graphite', 'collectd', 'opentsdb', 'udp']) set(listener, 'enabled', 'false');
  for (const [section, key, value] of extra) set(section, key, value);
  return toml;
}

async function ping(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 204;
  } catch {
    return false;
  }
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** `settings` changes influxd's own configuration, e.g. [['data', 'max-series-per-database', '4']]. */
export async function startInfluxd(settings: readonly InfluxdSetting[] = []): Promise<InfluxdHandle> {
  const bin = findInfluxd();
  const dataDir = await mkdtemp(join(tmpdir(), 'floorwatch-influxd-'));
  const configPath = join(dataDir, 'influxdb.conf');
  const logPath = join(dataDir, 'influxd.log');

  let child: ChildProcess | undefined;
  let log: WriteStream | undefined;
  let disposed = false;
  let port = 0;

  // A parent that dies without cleaning up must not leave an orphan server running.
  const killOnExit = (): void => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killOnExit);

  const launch = async (): Promise<void> => {
    log = createWriteStream(logPath, { flags: 'a' });
    await new Promise<void>((resolve, reject) => {
      log!.once('open', () => resolve());
      log!.once('error', reject);
    });
    const proc = spawn(bin, ['-config', configPath], { stdio: ['ignore', log, log] });
    child = proc;
    let exited: string | undefined;
    proc.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let failure: string;
    for (;;) {
      if (exited !== undefined) {
        failure = `influxd ${exited} before answering /ping`;
        break;
      }
      if (await ping(url)) return;
      if (Date.now() > deadline) {
        failure = `influxd did not answer ${url}/ping within ${READY_TIMEOUT_MS} ms`;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // Leaves no half-started process behind, so a later start() begins from scratch.
    await terminate();
    throw new Error(`${failure}:\n${logTail(logPath)}`);
  };

  const terminate = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      process.kill(proc.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null)
          process.kill(proc.pid, 'SIGKILL');
      }, STOP_GRACE_MS);
      await gone;
      clearTimeout(timer);
    }
    if (log) {
      const l = log;
      log = undefined;
      await new Promise<void>((resolve) => l.end(() => resolve()));
    }
  };

  // Another process may take a probed port before influxd binds it: probe again and retry.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    let rpcPort = await freePort();
    while (rpcPort === port) rpcPort = await freePort();
    await writeFile(configPath, await buildConfig(bin, dataDir, port, rpcPort, settings));
    try {
      await launch();
      break;
    } catch (err) {
      await terminate();
      if (attempt === 3) {
        process.off('exit', killOnExit);
        await rm(dataDir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    dataDir,
    get pid() {
      return child?.pid;
    },
    stop: terminate,
    async start() {
      if (disposed) throw new Error('influxd handle was disposed');
      if (child !== undefined) return;
      // While it was stopped, a client's outgoing connection may have been given one of its ports
      // for a moment: such a holder lets go within seconds.
      const deadline = Date.now() + REBIND_TIMEOUT_MS;
      for (;;) {
        try {
          await launch();
          return;
        } catch (err) {
          if (!/address already in use/.test(String(err)) || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await terminate();
      process.off('exit', killOnExit);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface InfluxqlAnswer {
  results: { series?: { name: string; columns: string[]; values: unknown[][] }[]; error?: string }[];
}

/** Raw InfluxQL against a server, for checks the Store interface does not expose; times in ms. */
export async function influxqlAt(base: string, q: string, db?: string): Promise<InfluxqlAnswer> {
  const form = new URLSearchParams({ q, epoch: 'ms' });
  if (db !== undefined) form.set('db', db);
  const res = await fetch(`${base}/query`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`InfluxDB answered ${res.status} to ${q}: ${await res.text()}`);
  return (await res.json()) as InfluxqlAnswer;
}
