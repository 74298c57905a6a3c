// The peers a benchmark compares against, each started on 127.0.0.1 on a free port and stopped by
// the run: Mosquitto (Debian's package), a bare Aedes broker (no hub), the full hub, and Node-RED
// between Mosquitto and InfluxDB (installed apart, in bench/node-red).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen } from '../tests/support/influxd.ts';
import { eventually, spawnHub, type HubCommand } from '../tests/support/hub.ts';
import mqtt from 'mqtt';
import { countPoints } from './influx-raw.ts';
import { SERVICE_ENVIRONMENT } from '../hub/service-environment.ts';

export interface BrokerProcess {
  name: string;
  url: string;
  pid: number;
  /** The hub's HTTP API, for the hub only. */
  httpUrl?: string;
  stop(): Promise<void>;
}

/** SIGTERM, and with `graceMs`, SIGKILL if the process is still there after it. */
async function stopChild(child: ChildProcess, graceMs?: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const kill = graceMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(kill);
}

export async function startMosquitto(): Promise<BrokerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'floorwatch-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\nlog_dest none\n`,
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  await eventually(() => portOpen(port), { what: 'mosquitto to listen' });
  return {
    name: 'mosquitto',
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startBareAedes(): Promise<BrokerProcess> {
  await builtHub();
  const port = await freePort();
  const child = spawn(process.execPath, [join(import.meta.dirname, 'bare-aedes.mjs'), String(port)], {
    env: { ...process.env, ...SERVICE_ENVIRONMENT },
    stdio: 'ignore',
  });
  await eventually(() => portOpen(port), { what: 'bare Aedes to listen' });
  return { name: 'aedes', url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, stop: () => stopChild(child) };
}

const ROOT = join(import.meta.dirname, '..');
let built: Promise<HubCommand> | undefined;

/**
 * The hub as a service and the Docker image run it: compiled by `npm run build`, on plain node.
 * `npm start` runs the TypeScript through tsx, whose loader thread and source maps cost the
 * process about 40 MB more at rest; the figures are the hub's, not its loader's. Built once a run.
 */
export function builtHub(): Promise<HubCommand> {
  built ??= new Promise((resolve, reject) => {
    process.stdout.write('Building the hub as a service runs it (npm run build)…\n');
    const child = spawn('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve({ args: [join(ROOT, 'dist', 'hub', 'main.js')], cwd: ROOT })
        : reject(new Error(`npm run build failed (${code}):\n${errors}`)),
    );
  });
  return built;
}

export async function startHub(
  options: { influxUrl?: string; env?: Record<string, string>; nodeArgs?: string[] } = {},
): Promise<BrokerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'floorwatch-bench-hub-'));
  const hub = await spawnHub(dataDir, {
    command: await builtHub(),
    ...(options.influxUrl && { influxUrl: options.influxUrl }),
    logLevel: 'warn',
    ...(options.env && { env: options.env }),
    ...(options.nodeArgs && { nodeArgs: options.nodeArgs }),
  });
  return {
    name: 'hub',
    url: hub.mqttUrl,
    httpUrl: hub.url,
    pid: hub.child.pid!,
    stop: async () => {
      await stopChild(hub.child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const NODE_RED_DIR = join(import.meta.dirname, 'node-red');
const NODE_RED_MAIN = join(NODE_RED_DIR, 'node_modules', 'node-red', 'red.js');
/** Node-RED and its InfluxDB nodes stay out of the hub's own install; this brings them in. */
export const NODE_RED_INSTALL = 'npm --prefix bench/node-red ci';

export function nodeRedInstalled(): boolean {
  return existsSync(NODE_RED_MAIN);
}

/** The device the readiness probe publishes as: one point of it stays in the database. */
const NODE_RED_PROBE_DEVICE = 'pipeline-ready';

export interface PipelineProcess {
  pid: number;
  stop(): Promise<void>;
}

/**
 * Node-RED running bench/node-red/flows.json headless, from MQTT on `mqttUrl` to the InfluxDB
 * database of `influxUrl` (which must exist). Resolves once a probe reading published to the broker
 * has reached InfluxDB: the subscription is up and the whole path works. The probe is re-sent with
 * the same timestamp until then, so the database ends up holding exactly one point of it.
 */
export async function startNodeRed(mqttUrl: string, influxUrl: string): Promise<PipelineProcess> {
  const userDir = mkdtempSync(join(tmpdir(), 'floorwatch-bench-node-red-'));
  const flowFile = join(userDir, 'flows.json');
  copyFileSync(join(NODE_RED_DIR, 'flows.json'), flowFile);
  // No HTTP root at all, so Node-RED opens no port; uiHost keeps it local should one be turned on.
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: await freePort(),
    httpAdminRoot: false,
    httpNodeRoot: false,
    userDir,
    flowFile,
    credentialSecret: false,
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    functionExternalModules: false,
    logging: { console: { level: 'warn', metrics: false, audit: false } },
  };
  const settingsFile = join(userDir, 'settings.cjs');
  writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  const logFile = join(userDir, 'node-red.log');
  const log = openSync(logFile, 'a');
  const influx = new URL(influxUrl);
  const child = spawn(process.execPath, [NODE_RED_MAIN, '--settings', settingsFile, '--userDir', userDir], {
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      ...SERVICE_ENVIRONMENT,
      // The flow file names its broker and database through these.
      FLOORWATCH_BENCH_MQTT_PORT: new URL(mqttUrl).port,
      FLOORWATCH_BENCH_INFLUX_PORT: influx.port,
      FLOORWATCH_BENCH_INFLUX_DATABASE: influx.pathname.slice(1),
    },
  });
  const stop = async () => {
    await stopChild(child, 10_000);
    rmSync(userDir, { recursive: true, force: true });
  };
  const probe = await mqtt.connectAsync(mqttUrl, { clientId: 'bench-pipeline-probe', protocolVersion: 4 });
  try {
    const payload = JSON.stringify({ ts: Date.now(), seq: 0, co2: 400 });
    await eventually(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`Node-RED exited with ${child.exitCode}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
        await probe.publishAsync(`floorwatch/devices/${NODE_RED_PROBE_DEVICE}/telemetry`, payload, { qos: 1 });
        return (await countPoints(influxUrl, 'co2')) > 0;
      },
      { what: 'Node-RED to carry a probe reading from Mosquitto to InfluxDB', timeoutMs: 30_000, intervalMs: 250 },
    );
  } catch (err) {
    await stop();
    throw err;
  } finally {
    await probe.endAsync();
  }
  return { pid: child.pid!, stop };
}
