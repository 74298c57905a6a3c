// A QoS 0 flood from many raw TCP clients: each connects, then writes PUBLISH packets as fast as
// its socket takes them (waiting for 'drain' when the kernel's buffer is full, as a real sender is
// held back by TCP), until the time is up and whatever it is told to wait for is done. Packets are
// encoded by hand (tests/support/mqtt.ts), so the flood costs the benchmark little and no MQTT
// library buffers on the sender's side. The flood runs in a process of its own: a socket whose
// reader keeps up takes writes for a second and more before it refuses one, and in the
// benchmark's process that loop stalled the clock of the probes measuring the broker beside it.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connectPacket, publishPacket } from '../tests/support/mqtt.ts';

export interface FloodOptions {
  host: string;
  port: number;
  clients: number;
  durationMs: number;
  /** Settled before the flood may end, if it lasts longer than durationMs. */
  until?: Promise<unknown>;
  /** Topic of client n, with `{n}` standing for n. */
  topic: string;
  payload: string;
  /** Client id of client n, with `{n}` standing for n. */
  clientId: string;
}

export interface FloodReport {
  connected: number;
  /** PUBLISH packets written to the sockets (not all of them need have been read by the broker). */
  messagesWritten: number;
  /** Clients the broker closed during the flood. */
  closedByBroker: number;
}

type Senders = Omit<FloodOptions, 'until' | 'durationMs'>;
type FromFlood = { connecting: true } | { report: FloodReport };

/** Packets per write: enough to keep the socket busy without building large buffers. */
const PACKETS_PER_WRITE = 64;

export async function flood(options: FloodOptions): Promise<FloodReport> {
  const { until, durationMs, ...senders } = options;
  until?.catch(() => undefined); // awaited once the flood has begun; a failure before that is not unhandled
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'] });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the flood's process ended (exit code ${String(code)}) before it reported`);
  });
  exited.catch(() => undefined); // only an exit before the report is an error
  const message = (): Promise<FromFlood> =>
    Promise.race([once(child, 'message').then(([m]) => m as FromFlood), exited]);
  try {
    child.send(senders);
    await message();
    await Promise.all([new Promise((resolve) => setTimeout(resolve, durationMs)), until]);
    child.send('stop');
    const done = await message();
    if (!('report' in done)) throw new Error('the flood answered out of turn');
    return done.report;
  } finally {
    // A flood whose run failed (`until` rejected) ends as the benchmark would: its channel closed.
    if (child.connected) child.disconnect();
  }
}

/** In the flood's process: floods until `stop` settles. */
async function send(options: Senders, stop: Promise<unknown>): Promise<FloodReport> {
  const report: FloodReport = { connected: 0, messagesWritten: 0, closedByBroker: 0 };
  let stopping = false;
  const sockets: Socket[] = [];
  const of = (template: string, n: number) => template.replaceAll('{n}', String(n));

  const one = (n: number) =>
    new Promise<void>((resolve) => {
      const socket = connect(options.port, options.host);
      sockets.push(socket);
      const burst = Buffer.concat(
        Array.from({ length: PACKETS_PER_WRITE }, () =>
          publishPacket({ topic: of(options.topic, n), payload: options.payload, qos: 0 }),
        ),
      );
      let connacked = false;
      socket.on('error', () => undefined);
      socket.once('close', () => {
        if (!stopping) report.closedByBroker++;
        resolve();
      });
      socket.on('data', (data: Buffer) => {
        if (connacked || data[0] !== 0x20) return;
        connacked = true;
        report.connected++;
        const pump = (): void => {
          while (!stopping && !socket.destroyed) {
            report.messagesWritten += PACKETS_PER_WRITE;
            if (!socket.write(burst)) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        pump();
      });
      socket.write(connectPacket({ clientId: of(options.clientId, n) }));
    });

  const all = Promise.all(Array.from({ length: options.clients }, (_, n) => one(n)));
  await stop;
  stopping = true;
  for (const socket of sockets) socket.destroy();
  await all;
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const tell = (m: FromFlood) => process.connected && process.send?.(m);
  const [senders] = (await once(process, 'message')) as [Senders];
  // A benchmark that is gone (killed, crashed) ends the flood as its 'stop' would.
  const stop = Promise.race([once(process, 'message'), once(process, 'disconnect')]);
  tell({ connecting: true });
  tell({ report: await send(senders, stop) });
  if (process.connected) process.disconnect();
}
