// Starting hubs for tests: in this process (fast, for most tests) or as a child process (for
// tests that kill it). Both bind 127.0.0.1 on free ports with a temp data dir (a test of what
// another host sees may bind one of this machine's network addresses instead).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { stringify } from 'yaml';
import { loadConfig } from '../../hub/config/config.ts';
import { startHub, type Hub } from '../../hub/hub.ts';
import { SERVICE_ENVIRONMENT } from '../../hub/service-environment.ts';
import type { Ticker } from '../../hub/compose/ticker.ts';
import type { Timers } from '../../hub/domain/timers.ts';
import { freePort } from './influxd.ts';

export interface TestHubOptions {
  influxUrl?: string;
  /** Extra floorwatch.yaml content (zones, devices, ingest…). */
  config?: Record<string, unknown>;
  dataDir?: string;
  now?: () => number;
  /** Runs the rules' clock tick (on simulated time, with `now`); every second of real time otherwise. */
  ticker?: Ticker;
  /** The notifications' waits (grouping, retries), on simulated time with `now`; real timers otherwise. */
  timers?: Timers;
  /** The address to listen on; 127.0.0.1 unless a test needs another host's view. */
  bind?: string;
  /** The hub's log, for tests that read what it says (see capturedLog); silent otherwise. */
  log?: Logger;
}

export interface TestHub {
  hub: Hub;
  dataDir: string;
  /** The variables the hub reads its configuration from, at start and at each reload. */
  env: NodeJS.ProcessEnv;
  api(path: string, init?: RequestInit): Promise<Response>;
  json<T = unknown>(path: string): Promise<T>;
  mqttUrl: string;
  stop(): Promise<void>;
  /** Stops the hub and removes its data dir. */
  dispose(): Promise<void>;
}

export function testEnv(
  dataDir: string,
  options: {
    influxUrl?: string;
    config?: Record<string, unknown>;
    httpPort?: number;
    mqttPort?: number;
    bind?: string;
  },
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    FLOORWATCH_BIND: options.bind ?? '127.0.0.1',
    FLOORWATCH_HTTP_PORT: String(options.httpPort ?? 0),
    FLOORWATCH_MQTT_PORT: String(options.mqttPort ?? 0),
    FLOORWATCH_DATA_DIR: dataDir,
    // TEST_LOG_LEVEL=warn shows a test hub's log while investigating a failure.
    FLOORWATCH_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  };
  if (options.influxUrl) env.FLOORWATCH_INFLUX_URL = options.influxUrl;
  if (options.config) {
    const file = join(dataDir, 'floorwatch.yaml');
    writeFileSync(file, stringify(options.config));
    env.FLOORWATCH_CONFIG = file;
  }
  return env;
}

/** Whether the hub's health says its bridge `name` is connected and not held up; undefined with no such bridge. */
export async function bridgeOk(hub: TestHub, name = 'site'): Promise<boolean | undefined> {
  return (await hub.json<{ checks: Record<string, { ok: boolean }> }>('/api/v1/health')).checks[`bridge ${name}`]?.ok;
}

/** The value of the first /metrics line `line` matches (its first group), or 0 when none does. */
export async function metric(hub: TestHub, line: RegExp, token?: string): Promise<number> {
  const text = await (
    await hub.api('/metrics', token === undefined ? undefined : { headers: { authorization: `Bearer ${token}` } })
  ).text();
  return Number(line.exec(text)?.[1] ?? 0);
}

/** A logger a test can read back: every line as JSON text, and the message of each line. */
export function capturedLog(level = 'info'): { log: Logger; text: () => string; lines: string[] } {
  let text = '';
  const lines: string[] = [];
  const log = pino(
    { level },
    {
      write: (line: string) => {
        text += line;
        lines.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  return { log, text: () => text, lines };
}

export function tempDir(prefix = 'floorwatch-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestHub(options: TestHubOptions = {}): Promise<TestHub> {
  const dataDir = options.dataDir ?? tempDir();
  const env = testEnv(dataDir, options);
  const config = loadConfig({ env });
  const hub = await startHub({
    config,
    readConfig: () => loadConfig({ env }),
    ...(options.now && { now: options.now }),
    ...(options.ticker && { ticker: options.ticker }),
    ...(options.timers && { timers: options.timers }),
    ...(options.log && { log: options.log }),
  });
  return wrap(hub, dataDir, env);
}

function wrap(hub: Hub, dataDir: string, env: NodeJS.ProcessEnv): TestHub {
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await hub.stop();
  };
  return {
    hub,
    dataDir,
    env,
    mqttUrl: `mqtt://${new URL(hub.url).hostname}:${hub.mqttPort}`,
    api: (path, init) => fetch(`${hub.url}${path}`, init),
    json: async (path) => {
      const response = await fetch(`${hub.url}${path}`);
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as never;
    },
    stop,
    dispose: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HubProcess {
  child: ChildProcess;
  httpPort: number;
  mqttPort: number;
  url: string;
  mqttUrl: string;
  /** Everything the process printed, for failure messages. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** What node runs instead of `hub/main.ts` through tsx (the built hub, say), and in which folder. */
export interface HubCommand {
  args: string[];
  cwd: string;
}

interface SpawnOptions {
  influxUrl?: string;
  config?: Record<string, unknown>;
  httpPort?: number;
  mqttPort?: number;
  logLevel?: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
  command?: HubCommand;
}

/** A port picked for the hub was taken by another process before the hub could listen on it. */
class PortTaken extends Error {}

/**
 * Runs `hub/main.ts` as `npm start` would (or `options.command`), and resolves once its API
 * answers. A port picked here can be taken by another test's process before the hub listens on it:
 * the hub then exits, and is started again on other ports.
 */
export async function spawnHub(dataDir: string, options: SpawnOptions = {}): Promise<HubProcess> {
  for (let attempt = 1; ; attempt++) {
    const httpPort = options.httpPort ?? (await freePort());
    const mqttPort = options.mqttPort ?? (await freePort());
    try {
      return await spawnOn(dataDir, options, httpPort, mqttPort);
    } catch (err) {
      const picked = options.httpPort === undefined && options.mqttPort === undefined;
      if (!(err instanceof PortTaken) || !picked || attempt === 3) throw err;
    }
  }
}

async function spawnOn(
  dataDir: string,
  options: SpawnOptions,
  httpPort: number,
  mqttPort: number,
): Promise<HubProcess> {
  const env = {
    ...process.env,
    ...testEnv(dataDir, { ...options, httpPort, mqttPort }),
    FLOORWATCH_LOG_LEVEL: options.logLevel ?? 'info',
    // As a service, the Docker image and (but for the malloc arenas) `npm start` set it.
    ...SERVICE_ENVIRONMENT,
    ...options.env,
  };
  // node itself (with tsx as a loader, unless told otherwise), so a signal reaches the hub and not a wrapper process.
  const args = options.command?.args ?? ['--import', 'tsx', 'hub/main.ts'];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...args], {
    env,
    cwd: options.command?.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  let exitedEarly: Error | undefined;
  void exited.then(({ code, signal }) => {
    const message = `hub exited (${code ?? signal}) before it was ready:\n${text}`;
    exitedEarly = text.includes('EADDRINUSE') ? new PortTaken(message) : new Error(message);
  });
  // Ready when the API answers, whatever the log level; and it is this hub's API when its health
  // names this hub's MQTT port (another test's hub may hold the HTTP port this one could not take).
  const ready = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/health`);
    const health = (await res.json().catch(() => ({}))) as {
      status?: unknown;
      checks?: { broker?: { port?: number } };
    };
    const port = health.checks?.broker?.port;
    return typeof health.status === 'string' && (port === undefined || port === mqttPort);
  };
  const outcome = await eventually(async () => exitedEarly ?? ((await ready()) ? 'ready' : undefined), {
    what: 'the hub to answer',
    timeoutMs: 30_000,
    intervalMs: 25,
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw exitedEarly ?? err;
  });
  if (outcome !== 'ready') throw outcome;
  return {
    child,
    httpPort,
    mqttPort,
    url: `http://127.0.0.1:${httpPort}`,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    output: () => text,
    exited,
  };
}

/**
 * Resolves once the store holds every reading the journal has: the health report's backlog (what
 * the store writer has not committed) is 0. The writer may hold readings a moment to write several
 * at once, so a test that counts readings waits for this first.
 */
export async function storeCaughtUp(hub: Pick<TestHub, 'api'>, viewerToken?: string): Promise<void> {
  // Without a token, a hub that has tokens tells only its status.
  const init = viewerToken === undefined ? undefined : { headers: { authorization: `Bearer ${viewerToken}` } };
  const backlog = async () =>
    ((await (await hub.api('/api/v1/health', init)).json()) as { checks: { journal: { backlog: number } } }).checks
      .journal.backlog;
  await eventually(async () => (await backlog()) === 0, { what: 'the store to hold every journaled reading' });
}

/** Polls a condition of another process (a server, a store) until it holds or the deadline passes. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let last: string | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${options.what ?? 'condition'}${last ? `: ${last}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
