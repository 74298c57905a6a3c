// A QoS 0 flood from many raw TCP clients: each connects, then writes PUBLISH packets as fast as
// its socket takes them (waiting for 'drain' when the kernel's buffer is full, as a real sender is
// held back by TCP), until the time is up. Packets are encoded here, by hand, so the flood costs
// the benchmark process little and no MQTT library buffers on the sender's side.
import { connect, type Socket } from 'node:net';

export interface FloodOptions {
  host: string;
  port: number;
  clients: number;
  durationMs: number;
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

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

function utf8(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([length, body]);
}

/** MQTT 3.1.1 CONNECT with a clean session and a 60 s keepalive. */
function connectPacket(clientId: string): Buffer {
  const variable = Buffer.concat([utf8('MQTT'), Buffer.from([4, 0x02, 0, 60])]);
  const body = Buffer.concat([variable, utf8(clientId)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

function publishPacket(topic: string, payload: string): Buffer {
  const body = Buffer.concat([utf8(topic), Buffer.from(payload, 'utf8')]);
  return Buffer.concat([Buffer.from([0x30]), remainingLength(body.length), body]);
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
      const burst = Buffer.concat(Array.from({ length: PACKETS_PER_WRITE }, () => publishPacket(options.topic(n), options.payload)));
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
      socket.write(connectPacket(options.clientId(n)));
    });

  const all = Promise.all(Array.from({ length: options.clients }, (_, n) => one(n)));
  await new Promise((resolve) => setTimeout(resolve, options.durationMs));
  stopping = true;
  for (const socket of sockets) socket.destroy();
  await all;
  return report;
}
