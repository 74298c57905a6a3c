// The peers a benchmark compares against, each started on 127.0.0.1 on a free port and stopped by
// the run: Mosquitto (Debian's package), a bare Aedes broker (no hub), the full hub.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../tests/support/influxd.ts';
import { eventually, spawnHub } from '../tests/support/hub.ts';
import { connect } from 'node:net';

export interface BrokerProcess {
  name: string;
  url: string;
  pid: number;
  /** The hub's HTTP API, for the hub only. */
  httpUrl?: string;
  stop(): Promise<void>;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

export async function startMosquitto(): Promise<BrokerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'floorwatch-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\nlog_dest none\n`);
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
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bare-aedes.ts'), String(port)], { stdio: 'ignore' });
  await eventually(() => portOpen(port), { what: 'bare Aedes to listen' });
  return { name: 'aedes', url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, stop: () => stopChild(child) };
}

export async function startHub(options: { influxUrl?: string; env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<BrokerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'floorwatch-bench-hub-'));
  const hub = await spawnHub(dataDir, { ...(options.influxUrl && { influxUrl: options.influxUrl }), logLevel: 'warn', ...(options.env && { env: options.env }), ...(options.nodeArgs && { nodeArgs: options.nodeArgs }) });
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
