// A throwaway HAProxy in front of test hubs: TCP for MQTT, HTTP for the API, each on a free
// 127.0.0.1 port, health-checking the hubs so a dead one is skipped within a second.
//   const lb = await startHaproxy([{ name: 'hub-1', mqttPort, httpPort }, …]);
//   lb.mqttUrl, lb.url; await lb.dispose();
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen } from './influxd.ts';

export interface Backend {
  name: string;
  mqttPort: number;
  httpPort: number;
}

export interface HaproxyHandle {
  mqttUrl: string;
  url: string;
  pid: number;
  dispose(): Promise<void>;
}

export async function startHaproxy(backends: readonly Backend[]): Promise<HaproxyHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'floorwatch-haproxy-'));
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const servers = (port: (b: Backend) => number) =>
    backends.map((b) => `  server ${b.name} 127.0.0.1:${port(b)} check inter 300 fall 2 rise 2`).join('\n');
  const config = `
global
  maxconn 2000
defaults
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  retries 3
  option redispatch
frontend mqtt
  mode tcp
  bind 127.0.0.1:${mqttPort}
  default_backend hubs_mqtt
backend hubs_mqtt
  mode tcp
  balance roundrobin
${servers((b) => b.mqttPort)}
frontend api
  mode http
  bind 127.0.0.1:${httpPort}
  default_backend hubs_api
backend hubs_api
  mode http
  balance roundrobin
${servers((b) => b.httpPort)}
`;
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child: ChildProcess = spawn('haproxy', ['-f', file, '-db', '-q'], { stdio: 'ignore' });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const deadline = Date.now() + 10_000;
  while (!(await portOpen(mqttPort)) || !(await portOpen(httpPort))) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode} (config in ${file})`);
    if (Date.now() > deadline) throw new Error('haproxy did not listen within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    url: `http://127.0.0.1:${httpPort}`,
    pid: child.pid!,
    dispose: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
