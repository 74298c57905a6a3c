// The hub's serial port over a real socat pty pair, with the real serialport binding: a port whose
// line hangs up closes, whenever the hub next reads it, and says why.
import { afterEach, describe, expect, it } from 'vitest';
import type { SerialPortStream } from '@serialport/stream';
import { HUNG_UP, serialPort } from '../hub/sources/serial-port.ts';
import { startPtyPair, type PtyPair } from '../sensors-firmware-sim/pty.ts';
import { eventually } from './support/hub.ts';

const opened = (port: SerialPortStream) =>
  new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));

/** Resolves with the reason the port closed, or rejects if it is still open after timeoutMs. */
const closed = (port: SerialPortStream, timeoutMs: number) =>
  new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the port was still open ${timeoutMs} ms after its line hung up`)),
      timeoutMs,
    );
    port.once('close', (err: Error | null) => {
      clearTimeout(timer);
      resolve(err?.message ?? 'closed without a reason');
    });
  });

describe('the hub’s serial port', () => {
  let line: PtyPair | undefined;
  const ports: SerialPortStream[] = [];
  afterEach(async () => {
    for (const port of ports.splice(0))
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    await line?.dispose();
  });

  it('closes, saying the port hung up, when it is read after its line hung up', async () => {
    line = await startPtyPair();
    const highWaterMark = 1024;
    const hub = serialPort({ path: line.hubPath, baudRate: 115_200, highWaterMark });
    const gateway = serialPort({ path: line.simPath, baudRate: 115_200 });
    ports.push(hub, gateway);
    await Promise.all([opened(hub), opened(gateway)]);
    // Paused with its read-ahead full, the port has no read waiting when the line hangs up, so its
    // next read is one of a hung-up terminal: it reads as ended, at once and for ever after.
    let received = 0;
    hub.on('data', (chunk: Buffer) => (received += chunk.length));
    hub.pause();
    gateway.write(Buffer.alloc(4 * highWaterMark, 'x'));
    await eventually(() => hub.readableLength >= highWaterMark, { what: 'the read-ahead to fill' });
    await line.stop();

    const reason = closed(hub, 5_000);
    hub.resume();
    await expect(reason).resolves.toBe(HUNG_UP);
    // What was read before the hang-up is handed on.
    expect(received).toBeGreaterThanOrEqual(highWaterMark);
  });

  it('closes, saying the port hung up, when its line hangs up while it waits for bytes', async () => {
    line = await startPtyPair();
    const hub = serialPort({ path: line.hubPath, baudRate: 115_200 });
    ports.push(hub);
    await opened(hub);
    hub.on('data', () => {});
    const reason = closed(hub, 5_000);
    await line.stop();
    // The waiting read is woken by the poller's error, by a failed read, or by a read of nothing,
    // by how far the hang-up got: each is told the same.
    expect(await reason).toBe(HUNG_UP);
  });

  it('closes cleanly however its closing meets a read: at once after opening, and amid bytes', async () => {
    line = await startPtyPair();
    const gateway = serialPort({ path: line.simPath, baudRate: 115_200 });
    ports.push(gateway);
    await opened(gateway);
    const sending = setInterval(() => gateway.write('$FWR,env-1,temperature,21.5*00\n'), 1);
    try {
      for (let i = 0; i < 60; i++) {
        const hub = serialPort({ path: line.hubPath, baudRate: 115_200 });
        hub.on('data', () => {});
        // Closed from its open callback, as the hub closes a port it opened while stopping.
        const reason = await new Promise<Error | null>((resolve, reject) =>
          hub.open((err) => {
            if (err) reject(err);
            else if (i % 2 === 0) hub.close(resolve);
            else setTimeout(() => hub.close(resolve), 2);
          }),
        );
        expect(reason).toBeNull();
        expect(hub.isOpen).toBe(false);
      }
    } finally {
      clearInterval(sending);
    }
  });
});
