// The whole-pipeline benchmark's raw QoS 1 load generator (support/qos1-load.ts): against a real
// Mosquitto every message arrives once, in order per device, as the simulator's load sends it;
// against a broker that refuses, closes or is not there it stops with the reason, and leaves no
// socket open.
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runQos1Load } from './support/qos1-load.ts';
import type { LoadOptions } from '../sensors-firmware-sim/load.ts';
import { eventually } from './support/hub.ts';
import { freePort } from './support/influxd.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';

const load = (url: string, more: Partial<LoadOptions> = {}): LoadOptions => ({
  url,
  devices: 4,
  messages: 300,
  window: 8,
  rate: 0,
  format: 'json',
  batch: 1,
  durationMs: 20_000,
  ...more,
});

describe('the raw QoS 1 load, against a real Mosquitto', () => {
  let broker: MosquittoHandle;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker.dispose();
  });

  it('sends every message once, in order per device, each acknowledged', async () => {
    const reader = await mqtt.connectAsync(broker.url, { clientId: 'reader' });
    const seen = new Map<string, Array<{ ts: number; seq: number; co2: number }>>();
    reader.on('message', (topic, payload) => {
      const device = topic.split('/')[2]!;
      seen.set(device, [...(seen.get(device) ?? []), JSON.parse(payload.toString()) as never]);
    });
    await reader.subscribeAsync('floorwatch/devices/+/telemetry', { qos: 1 });
    let connectedBeforeSending = 0;
    const report = await runQos1Load(
      load(broker.url, {
        onConnected: (count) => {
          connectedBeforeSending = count;
        },
      }),
    );
    expect(connectedBeforeSending).toBe(4);
    expect(report).toMatchObject({ devices: 4, connected: 4, messagesSent: 1200, messagesAcked: 1200 });
    await eventually(() => [...seen.values()].reduce((sum, list) => sum + list.length, 0) === 1200, {
      what: 'every message at the reader',
    });
    await reader.endAsync();
    expect([...seen.keys()].sort()).toEqual(['load-1', 'load-2', 'load-3', 'load-4']);
    for (const list of seen.values()) {
      expect(list.map((m) => m.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      // Timestamps 1 ms apart, none in the future.
      expect(list[299]!.ts - list[0]!.ts).toBe(299);
      expect(list[299]!.ts).toBeLessThanOrEqual(Date.now());
    }
  });
});

describe('the raw QoS 1 load, against a broker that fails it', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  /** A TCP server on a port the system picks, doing `onConnection` with each client; its URL. */
  const serve = async (onConnection: (socket: Socket) => void): Promise<string> => {
    server = createServer(onConnection).listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const open = () =>
    new Promise<number>((resolve, reject) => server!.getConnections((e, n) => (e ? reject(e) : resolve(n))));

  it('says the broker refused the connection, with its code, and closes every socket', async () => {
    const url = await serve((socket) => socket.once('data', () => socket.write(Buffer.from([0x20, 2, 0, 5]))));
    await expect(runQos1Load(load(url))).rejects.toThrow('the broker refused the connection (code 5)');
    await eventually(async () => (await open()) === 0, { what: 'every socket closed' });
  });

  it('says the broker closed the connection', async () => {
    const url = await serve((socket) => socket.once('data', () => socket.end()));
    await expect(runQos1Load(load(url))).rejects.toThrow(/^load-\d: the broker closed the connection$/);
    await eventually(async () => (await open()) === 0, { what: 'every socket closed' });
  });

  it('names the packet it did not expect', async () => {
    const url = await serve((socket) => socket.once('data', () => socket.write(Buffer.from([0x30, 2, 0, 0]))));
    await expect(runQos1Load(load(url))).rejects.toThrow('unexpected packet from the broker: 30020000');
    await eventually(async () => (await open()) === 0, { what: 'every socket closed' });
  });

  it('says no broker answers where none listens', async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    await expect(runQos1Load(load(url))).rejects.toThrow(/^load-\d: connect ECONNREFUSED/);
  });
});
