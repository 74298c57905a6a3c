// The pipeline benchmark's load (bench/run.ts): N devices on raw TCP sockets, each keeping a
// window of QoS 1 JSON readings in flight and publishing the next one as each PUBACK comes.
// Packets are encoded and read by hand (mqtt.ts): the load generator shares the cores with the
// pipelines it measures, and mqtt.js spent 20–33 µs of them per message, this 5.5–16.
import { connect, type Socket } from 'node:net';
import { latch } from './journal.ts';
import { connectPacket, publishPacket } from './mqtt.ts';
import type { LoadOptions, LoadReport } from '../../sensors-firmware-sim/load.ts';

const CONNACK = 0x20;
const PUBACK = 0x40;

interface Device {
  socket: Socket;
  topic: string;
  sent: number;
  acked: number;
  /** The start of a packet a read split. */
  partial: Buffer | undefined;
}

/**
 * The simulator's load (`runLoad`) for its JSON readings as fast as the window allows, without
 * mqtt.js: every device connects at once, and the first failure (a refusal, a connection closed,
 * no CONNACK within 30 s) ends the load and is thrown.
 */
export async function runQos1Load(options: LoadOptions): Promise<LoadReport> {
  if (options.format !== 'json' || options.rate !== 0 || options.latencies || options.timestamps === 'publish')
    throw new Error('the raw QoS 1 load sends JSON readings as fast as the window allows, nothing else');
  const { hostname, port } = new URL(options.url);
  const window = Math.min(options.window ?? 16, options.messages);
  const idPrefix = options.idPrefix ?? 'load-';
  const prefix = options.prefix ?? 'floorwatch';
  const connectStarted = Date.now();
  // As runLoad: timestamps 1 ms apart per device, ending now, so none is in the future.
  const baseTs = connectStarted - options.messages;
  const connected = latch();
  const finished = latch();
  let connectedCount = 0;
  let devicesDone = 0;
  let failure: Error | undefined;
  let ending = false;
  const throwFailure = () => {
    if (failure) throw failure;
  };
  const fail = (err: Error) => {
    if (ending) return;
    failure ??= err;
    connected.release();
    finished.release();
  };

  const publish = (device: Device): Buffer => {
    const seq = device.sent++;
    const payload = `{"ts":${baseTs + seq},"seq":${seq},"co2":${400 + (seq % 1000)}}`;
    return publishPacket({ topic: device.topic, payload, qos: 1, id: (seq % 65_535) + 1 });
  };

  // The broker sends only CONNACKs and PUBACKs here, four bytes each.
  const onData = (device: Device, chunk: Buffer) => {
    const data = device.partial ? Buffer.concat([device.partial, chunk]) : chunk;
    const replies: Buffer[] = [];
    let at = 0;
    for (; at + 4 <= data.length; at += 4) {
      const type = data[at];
      if (data[at + 1] !== 2 || (type !== CONNACK && type !== PUBACK)) {
        fail(new Error(`unexpected packet from the broker: ${data.subarray(at, at + 4).toString('hex')}`));
        return;
      }
      if (type === CONNACK) {
        if (data[at + 3] !== 0) fail(new Error(`the broker refused the connection (code ${data[at + 3]})`));
        else if (++connectedCount === options.devices) connected.release();
        continue;
      }
      device.acked++;
      if (device.sent < options.messages) replies.push(publish(device));
      else if (device.acked === options.messages && ++devicesDone === options.devices) finished.release();
    }
    device.partial = at < data.length ? data.subarray(at) : undefined;
    // What one read freed goes out in one write, as a client that reads and writes in turns sends it.
    if (replies.length > 0) device.socket.write(replies.length === 1 ? replies[0]! : Buffer.concat(replies));
  };

  const devices = Array.from({ length: options.devices }, (_, i): Device => {
    const id = `${idPrefix}${i + 1}`;
    const socket = connect(Number(port), hostname);
    socket.setNoDelay(true);
    const device: Device = {
      socket,
      topic: `${prefix}/devices/${id}/telemetry`,
      sent: 0,
      acked: 0,
      partial: undefined,
    };
    socket.on('error', (err) => fail(new Error(`${id}: ${err.message}`)));
    socket.once('close', () => fail(new Error(`${id}: the broker closed the connection`)));
    socket.on('data', (chunk: Buffer) => onData(device, chunk));
    // No keepalive: a device that has sent all it had waits without pinging.
    socket.write(
      connectPacket({
        clientId: id,
        keepalive: 0,
        ...(options.username !== undefined && { username: options.username }),
        ...(options.password !== undefined && { password: options.password }),
      }),
    );
    return device;
  });
  const timers: NodeJS.Timeout[] = [];
  try {
    timers.push(
      setTimeout(
        () => fail(new Error(`${connectedCount} of ${options.devices} devices connected within 30 s`)),
        30_000,
      ),
    );
    await connected.done;
    clearTimeout(timers[0]);
    throwFailure();
    const connectMs = Date.now() - connectStarted;
    await options.onConnected?.(devices.length);

    const started = Date.now();
    for (const device of devices)
      device.socket.write(Buffer.concat(Array.from({ length: window }, () => publish(device))));
    timers.push(setTimeout(finished.release, options.durationMs));
    await finished.done;
    throwFailure();
    const elapsedMs = Date.now() - started;
    const sent = devices.reduce((sum, d) => sum + d.sent, 0);
    const acked = devices.reduce((sum, d) => sum + d.acked, 0);
    return {
      devices: options.devices,
      connected: devices.length,
      messagesSent: sent,
      messagesAcked: acked,
      readingsSent: sent,
      readingsAcked: acked,
      connectMs,
      elapsedMs,
      readingsPerSecond: Math.round((acked * 1000) / Math.max(1, elapsedMs)),
    };
  } finally {
    ending = true;
    for (const timer of timers) clearTimeout(timer);
    for (const device of devices) device.socket.destroy();
  }
}
