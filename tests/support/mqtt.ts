// MQTT helpers shared by tests: mqtt.js for ordinary clients, and MQTT 3.1.1 packets written by
// hand to a socket where a test needs what mqtt.js will not send (a chosen keepalive, a DUP
// re-send, several packets in one write, a chosen source address).
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import mqtt, { type IClientOptions } from 'mqtt';

/** Connects expecting a refusal; resolves with the CONNACK return code the broker gave. */
export async function connackRefusal(url: string, options: IClientOptions): Promise<number | undefined> {
  const client = mqtt.connect(url, { ...options, reconnectPeriod: 0 });
  try {
    return await new Promise<number | undefined>((resolve, reject) => {
      client.once('connect', () => reject(new Error('connected, but should have been refused')));
      client.once('error', (err) => resolve((err as { code?: number }).code));
    });
  } finally {
    client.end(true);
  }
}

/** A headset's heartbeat, ok or with a drop-out fault, as the device `device` (connects, publishes at QoS 1, leaves). */
export async function headsetHeartbeat(url: string, device: string, state: 'ok' | 'fault'): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: device });
  const components = { headset: { state, ...(state === 'fault' && { code: 'dropout' }) } };
  await client.publishAsync(
    `floorwatch/devices/${device}/heartbeat`,
    JSON.stringify({ kind: 'headset', status: state, components }),
    { qos: 1 },
  );
  await client.endAsync();
}

/** `count` CO2 readings from the device `device`, one after another at QoS 1, each acknowledged. */
export async function co2Readings(url: string, device: string, count: number): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: device });
  try {
    for (let i = 0; i < count; i++)
      await client.publishAsync(`floorwatch/devices/${device}/telemetry`, JSON.stringify({ co2: 600 + (i % 50) }), {
        qos: 1,
      });
  } finally {
    await client.endAsync();
  }
}

/** Control packet types (the high nibble of the first byte). */
export const PACKET = {
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  suback: 9,
  unsuback: 11,
  pingresp: 13,
} as const;

function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

function packet(firstByte: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

/** A UTF-8 string or bytes with its two-byte length, as MQTT writes them. */
function field(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

export interface ConnectFields {
  clientId: string;
  username?: string;
  password?: string;
  keepalive?: number;
  clean?: boolean;
  will?: { topic: string; payload: string; qos?: 0 | 1 | 2; retain?: boolean };
}

export function connectPacket(f: ConnectFields): Buffer {
  let flags = f.clean === false ? 0 : 0x02;
  if (f.will) flags |= 0x04 | ((f.will.qos ?? 0) << 3) | (f.will.retain ? 0x20 : 0);
  if (f.username !== undefined) flags |= 0x80;
  if (f.password !== undefined) flags |= 0x40;
  const payload = [field(f.clientId)];
  if (f.will) payload.push(field(f.will.topic), field(f.will.payload));
  if (f.username !== undefined) payload.push(field(f.username));
  if (f.password !== undefined) payload.push(field(f.password));
  return packet(0x10, field('MQTT'), Buffer.from([4, flags]), u16(f.keepalive ?? 60), ...payload);
}

export function publishPacket(p: {
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  id?: number;
  dup?: boolean;
}): Buffer {
  const first = 0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1);
  return packet(first, field(p.topic), p.qos > 0 ? u16(p.id ?? 1) : Buffer.alloc(0), Buffer.from(p.payload));
}

export const pubackPacket = (id: number): Buffer => packet(0x40, u16(id));
export const pubrecPacket = (id: number): Buffer => packet(0x50, u16(id));
export const pubrelPacket = (id: number): Buffer => packet(0x62, u16(id));
export const pubcompPacket = (id: number): Buffer => packet(0x70, u16(id));

export function subscribePacket(id: number, filter: string, qos: 0 | 1 | 2): Buffer {
  return packet(0x82, u16(id), field(filter), Buffer.from([qos]));
}

export function unsubscribePacket(id: number, ...filters: string[]): Buffer {
  return packet(0xa2, u16(id), ...filters.map((f) => field(f)));
}

/** A PUBLISH from the broker, read: its topic, packet id (QoS > 0), payload and flags. */
export function readPublish(p: ReceivedPacket): {
  topic: string;
  id?: number;
  payload: string;
  qos: number;
  dup: boolean;
} {
  const topicLength = p.body.readUInt16BE(0);
  const topic = p.body.subarray(2, 2 + topicLength).toString('utf8');
  const qos = (p.flags >> 1) & 3;
  const rest = 2 + topicLength + (qos > 0 ? 2 : 0);
  return {
    topic,
    ...(qos > 0 && { id: p.body.readUInt16BE(2 + topicLength) }),
    payload: p.body.subarray(rest).toString('utf8'),
    qos,
    dup: (p.flags & 0x08) !== 0,
  };
}

export interface ReceivedPacket {
  type: number;
  flags: number;
  body: Buffer;
}

/** One MQTT connection over a plain socket: write packets, read the broker's packets in order. */
export class RawMqtt {
  private buffered = Buffer.alloc(0);
  private readonly packets: ReceivedPacket[] = [];
  private waiting: (() => void) | undefined;
  private ended = false;
  /** Resolves when the broker (or the test) closes the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.split();
      this.waiting?.();
    });
    socket.on('error', () => undefined);
    // Not events.once: it rejects when an 'error' (a reset by the broker) comes before 'close'.
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() => {
      this.ended = true;
      this.waiting?.();
    });
  }

  /** Opens a connection; `localAddress` picks the source address (any 127.x.y.z reaches the hub over loopback). */
  static async open(port: number, localAddress?: string): Promise<RawMqtt> {
    const socket = connect({ port, host: '127.0.0.1', ...(localAddress && { localAddress }) });
    await once(socket, 'connect');
    return new RawMqtt(socket);
  }

  /** Opens a connection, sends CONNECT and resolves with the CONNACK return code (undefined when closed without one). */
  static async connect(
    port: number,
    fields: ConnectFields,
    localAddress?: string,
  ): Promise<{ client: RawMqtt; returnCode: number | undefined }> {
    const client = await RawMqtt.open(port, localAddress);
    client.write(connectPacket(fields));
    const answer = await client.next();
    if (answer && answer.type !== PACKET.connack) throw new Error(`expected CONNACK, got packet type ${answer.type}`);
    return { client, returnCode: answer?.body[1] };
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next packet from the broker, or undefined once the connection is closed and nothing more is buffered. */
  async next(): Promise<ReceivedPacket | undefined> {
    for (;;) {
      const first = this.packets.shift();
      if (first) return first;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  /** The next packet, which must be of this type (and for this packet id, when given). */
  async expect(type: number, id?: number): Promise<ReceivedPacket> {
    const got = await this.next();
    if (!got) throw new Error(`connection closed while waiting for packet type ${type}`);
    if (got.type !== type || (id !== undefined && got.body.readUInt16BE(0) !== id)) {
      throw new Error(
        `expected packet type ${type}${id === undefined ? '' : ` for id ${id}`}, got type ${got.type} (${got.body.toString('hex')})`,
      );
    }
    return got;
  }

  async close(): Promise<void> {
    this.socket.end();
    await this.closed;
  }

  private split(): void {
    for (;;) {
      if (this.buffered.length < 2) return;
      let length = 0;
      let multiplier = 1;
      let at = 1;
      for (;;) {
        const byte = this.buffered[at];
        if (byte === undefined) return;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        at++;
        if ((byte & 0x80) === 0) break;
      }
      if (this.buffered.length < at + length) return;
      const first = this.buffered[0] ?? 0;
      this.packets.push({ type: first >> 4, flags: first & 0x0f, body: this.buffered.subarray(at, at + length) });
      this.buffered = this.buffered.subarray(at + length);
    }
  }
}
