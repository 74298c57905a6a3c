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

  it('closes when its line hangs up while it waits for bytes', async () => {
    line = await startPtyPair();
    const hub = serialPort({ path: line.hubPath, baudRate: 115_200 });
    ports.push(hub);
    await opened(hub);
    hub.on('data', () => {});
    const reason = closed(hub, 5_000);
    await line.stop();
    // Either the read the hang-up wakes fails, or it reads as ended, by how far the hang-up got.
    expect(await reason).toMatch(/hung up|input\/output error|bad file descriptor/i);
  });
});
