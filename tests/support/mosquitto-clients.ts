// Mosquitto's command-line clients (mosquitto_pub, mosquitto_sub), a client no one here wrote,
// against a broker on 127.0.0.1.
//   const { pub, sub, watch } = mosquittoClients(port);
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function mosquittoClients(port: number | string) {
  const at = ['-h', '127.0.0.1', '-p', String(port)];
  const ended = (args: string[]) =>
    run('mosquitto_sub', [...at, ...args]).catch((err: unknown) => err as { stdout: string; stderr: string });
  return {
    /** Publishes at QoS 1 (later arguments may say otherwise); rejects when the broker refuses. */
    pub: (topic: string, message: string, ...args: string[]) =>
      run('mosquitto_pub', [...at, '-q', '1', '-t', topic, '-m', message, ...args]),
    /** Subscribes with -v until -C or -W ends it: what it printed, also when -W timed it out. */
    sub: async (args: string[]) => (await ended(['-v', ...args])).stdout,
    /** As sub, without -v: what it printed, then what it said on stderr (-d shows the packets). */
    transcript: async (args: string[]) => {
      const { stdout, stderr } = await ended(args);
      return `${stdout}${stderr}`;
    },
    /** A subscriber left running: the process, and what it has printed so far. */
    watch: (args: string[]): { child: ChildProcess; out: () => string } => {
      const child = spawn('mosquitto_sub', [...at, ...args]);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return { child, out: () => out };
    },
  };
}
