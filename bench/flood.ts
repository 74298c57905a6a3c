// A QoS 0 flood from many raw TCP clients: each connects, then writes PUBLISH packets as fast as
// its socket takes them (waiting for 'drain' when the kernel's buffer is full, as a real sender is
// held back by TCP), until the time is up and whatever it is told to wait for is done. Packets are
// encoded by hand (tests/support/mqtt.ts), so the flood costs the benchmark process little and no
// MQTT library buffers on the sender's side.
import { connect, type Socket } from 'node:net';
import { connectPacket, publishPacket } from '../tests/support/mqtt.ts';

export interface FloodOptions {
  host: string;
  port: number;
  clients: number;
  durationMs: number;
  /** Settled before the flood may end, if it lasts longer than durationMs. */
  until?: Promise<unknown>;
  /** Topic of client n. */
  topic: (n: number) => string;
  payload: string;
  /** Client id of client n. */
  clientId: (n: number) => string;
}

export interface FloodReport {
  connected: number;
  /** PUBLISH packets written to the sockets (not all of them need have been read by the broker). */
  messagesWritten: number;
  /** Clients the broker closed during the flood. */
  closedByBroker: number;
}

/** Packets per write: enough to keep the socket busy without building large buffers. */
const PACKETS_PER_WRITE = 64;

export async function flood(options: FloodOptions): Promise<FloodReport> {
  const report: FloodReport = { connected: 0, messagesWritten: 0, closedByBroker: 0 };
  let stopping = false;
  const sockets: Socket[] = [];

  const one = (n: number) =>
    new Promise<void>((resolve) => {
      const socket = connect(options.port, options.host);
      sockets.push(socket);
      const burst = Buffer.concat(
        Array.from({ length: PACKETS_PER_WRITE }, () =>
          publishPacket({ topic: options.topic(n), payload: options.payload, qos: 0 }),
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
      socket.write(connectPacket({ clientId: options.clientId(n) }));
    });

  const all = Promise.all(Array.from({ length: options.clients }, (_, n) => one(n)));
  await Promise.all([new Promise((resolve) => setTimeout(resolve, options.durationMs)), options.until]);
  stopping = true;
  for (const socket of sockets) socket.destroy();
  await all;
  return report;
}
