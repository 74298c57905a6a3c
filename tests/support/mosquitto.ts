// A throwaway Mosquitto 2 (Debian's package) for tests: an MQTT 5 and 3.1.1 listener on a free
// 127.0.0.1 port, anonymous, with persistence in its own temp dir so sessions and retained
// messages outlive a restart on the same port.
//   const broker = await startMosquitto();  await broker.stop();  await broker.start();  await broker.dispose();
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen } from './influxd.ts';

export interface MosquittoHandle {
  url: string;
  port: number;
  /** mqtts:// on a second listener, when started with `tls`. */
  tlsUrl?: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * `users`: the broker then takes only these user names and passwords (mosquitto_passwd);
 * `acl`: the text of its ACL file (`user …`, `topic read|write|readwrite …`);
 * `tls`: PEM files for an MQTTS listener beside the plain one.
 */
export async function startMosquitto(
  options: { users?: Record<string, string>; acl?: string; tls?: { cert: string; key: string } } = {},
): Promise<MosquittoHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'floorwatch-mosquitto-'));
  let port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  const passwords = join(dir, 'passwords');
  const users = Object.entries(options.users ?? {});
  for (const [i, [user, password]] of users.entries())
    execFileSync('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', passwords, user, password]);
  // Started as root, Mosquitto runs as its own user, which must be able to read and write here.
  chmodSync(dir, 0o777);
  if (users.length > 0) chmodSync(passwords, 0o644);
  const acl = join(dir, 'acl');
  if (options.acl !== undefined) writeFileSync(acl, options.acl, { mode: 0o644 });
  let tlsPort = options.tls ? await freePort() : undefined;
  // Copied in, readable by the user Mosquitto runs as.
  const tlsFiles = options.tls
    ? [
        `certfile ${copyReadable(options.tls.cert, join(dir, 'server.crt'))}`,
        `keyfile ${copyReadable(options.tls.key, join(dir, 'server.key'))}`,
      ]
    : [];
  const configure = () =>
    writeFileSync(
      conf,
      [
        // Settings for every listener, and then the listeners.
        'per_listener_settings false',
        `listener ${port} 127.0.0.1`,
        ...(tlsPort !== undefined ? [`listener ${tlsPort} 127.0.0.1`, ...tlsFiles] : []),
        ...(users.length > 0 ? ['allow_anonymous false', `password_file ${passwords}`] : ['allow_anonymous true']),
        ...(options.acl !== undefined ? [`acl_file ${acl}`] : []),
        'persistence true',
        `persistence_location ${dir}/`,
        'max_queued_messages 100000',
        'log_dest none',
        '',
      ].join('\n'),
    );
  configure();
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);
  const start = async () => {
    child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await portOpen(port)) || (tlsPort !== undefined && !(await portOpen(tlsPort)))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode} (config ${conf})`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  // SIGTERM: Mosquitto saves its sessions and retained messages before it exits.
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    running.kill('SIGTERM');
    await once(running, 'exit');
  };
  // Another process may take a probed port before Mosquitto binds it: probe again and retry.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (attempt === 3) throw err;
      port = await freePort();
      if (tlsPort !== undefined) tlsPort = await freePort();
      configure();
    }
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    ...(tlsPort !== undefined && { tlsUrl: `mqtts://127.0.0.1:${tlsPort}` }),
    stop,
    start,
    dispose: async () => {
      await stop();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function copyReadable(from: string, to: string): string {
  copyFileSync(from, to);
  chmodSync(to, 0o644);
  return to;
}
