// One device's firmware, as a real one behaves on the wire: MQTT 3.1.1 with its own client id and
// credentials, a retained last will `offline` and birth `online` on its status topic, QoS 1
// telemetry (plain JSON or SenML) and heartbeats, reconnection with exponential backoff and
// jitter, and an offline buffer replayed after reconnecting with the readings' own ts and seq.
//
// mqtt.js keeps messages that were sent but not acknowledged and re-sends them after a reconnect;
// the offline buffer holds the readings taken while there was no connection at all. All timing
// (intervals, backoff) runs on the SimClock, so simulated time covers the firmware's behaviour.
import mqtt, { type MqttClient } from 'mqtt';
import { backoffMs } from '../hub/domain/backoff.ts';
import { METRICS, type ComponentHealth, type DeviceKind, type HealthStatus } from '../hub/domain/reading.ts';
import type { SimClock } from './clock.ts';
import { OfflineBuffer, type TelemetryRecord } from './offline-buffer.ts';
import type { Random } from './random.ts';

export interface FirmwareOptions {
  id: string;
  kind: DeviceKind;
  /** Broker URL, e.g. mqtt://127.0.0.1:1883. */
  url: string;
  clock: SimClock;
  random: Random;
  prefix?: string;
  clientId?: string;
  username?: string;
  password?: string;
  /** Added to the device's timestamps: a device whose clock runs ahead (+) or behind (−). */
  clockSkewMs?: number;
  format?: 'json' | 'senml';
  buffer?: { max: number; file?: string };
  reconnect?: { firstMs: number; maxMs: number };
  fw?: string;
  /** Telemetry messages sent and not yet acknowledged, at most. */
  window?: number;
  /** Told when the connection comes and goes, in words for the operator. */
  log?: (line: string) => void;
}

export interface FirmwareStats {
  /** Readings taken. */
  produced: number;
  /** Telemetry messages handed to the broker connection (re-sends of a put-back reading count again). */
  sent: number;
  /** Telemetry messages the broker acknowledged. */
  acked: number;
  /** Readings waiting in the offline buffer now. */
  buffered: number;
  /** Most readings the offline buffer held at once. */
  bufferedPeak: number;
  /** Readings lost because the offline buffer was full. */
  dropped: number;
  connects: number;
  failedConnects: number;
}

const DEFAULT_WINDOW = 32;
/** Backoff spreads over 50-100 % of the exponential step, so a floor of devices does not reconnect in lock-step. */
const JITTER = 0.5;

/** What a wireless device tells of its battery (charge, %) and radio link (dBm). */
export interface Radio {
  battery?: number;
  rssi?: number;
}

export class Firmware {
  readonly id: string;
  private client: MqttClient | undefined;
  private connected = false;
  private connecting = false;
  /** Radio silence (a dropout): no reconnect until restored. */
  private silent = false;
  private stopped = false;
  private cancelReconnect: (() => void) | undefined;
  private attempt = 0;
  private inFlight = 0;
  private seq: number;
  private readonly bootTs: number;
  private readonly buffer: OfflineBuffer;
  private readonly waiters = new Set<() => void>();
  private readonly counts = { produced: 0, sent: 0, acked: 0, bufferedPeak: 0, connects: 0, failedConnects: 0 };
  private readonly prefix: string;

  constructor(private readonly options: FirmwareOptions) {
    this.id = options.id;
    this.prefix = options.prefix ?? 'floorwatch';
    this.bootTs = options.clock.now();
    this.buffer = new OfflineBuffer(options.buffer?.max ?? 10_000, options.buffer?.file);
    // seq must keep rising across reboots, or the hub would take new readings for repeats: continue
    // after what the buffer file kept, else start from the boot time in ms.
    this.seq = Math.max((this.buffer.lastSeq() ?? -1) + 1, Math.floor(this.deviceTime()));
  }

  get stats(): FirmwareStats {
    return { ...this.counts, buffered: this.buffer.size, dropped: this.buffer.dropped };
  }

  get isConnected(): boolean {
    return this.connected;
  }

  private topic(kind: 'telemetry' | 'heartbeat' | 'status'): string {
    return `${this.prefix}/devices/${this.id}/${kind}`;
  }

  private deviceTime(): number {
    return this.options.clock.now() + (this.options.clockSkewMs ?? 0);
  }

  /** Connects, and keeps reconnecting until stopped. */
  start(): void {
    const { options } = this;
    const client = mqtt.connect(options.url, {
      clientId: options.clientId ?? options.id,
      ...(options.username !== undefined && { username: options.username }),
      ...(options.password !== undefined && { password: options.password }),
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      connectTimeout: 5_000,
      // Reconnection is the firmware's own, on its clock, with backoff and jitter.
      reconnectPeriod: 0,
      will: { topic: this.topic('status'), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.client = client;
    this.connecting = true;
    client.on('connect', () => {
      this.connecting = false;
      this.connected = true;
      this.attempt = 0;
      this.counts.connects++;
      if (this.counts.connects > 1)
        options.log?.(`${this.id}: connected again; ${this.buffer.size} readings taken while offline to deliver`);
      client.publish(this.topic('status'), 'online', { qos: 1, retain: true });
      this.pump();
      this.notify();
    });
    client.on('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      if (this.connecting) this.counts.failedConnects++;
      this.connecting = false;
      if (wasConnected && !this.stopped) options.log?.(`${this.id}: lost the broker connection; buffering readings`);
      this.notify();
      this.scheduleReconnect();
    });
    // Connection errors are followed by 'close', which schedules the next attempt.
    client.on('error', () => undefined);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.silent || this.cancelReconnect || this.connected || this.connecting) return;
    this.attempt++;
    const delay = backoffMs(
      this.attempt,
      { ...(this.options.reconnect ?? { firstMs: 500, maxMs: 30_000 }), jitter: JITTER },
      () => this.options.random.next(),
    );
    const clock = this.options.clock;
    this.cancelReconnect = clock.at(clock.now() + delay, () => {
      this.cancelReconnect = undefined;
      this.reconnectNow();
    });
  }

  private reconnectNow(): void {
    const client = this.client;
    if (!client || this.stopped || this.silent || this.connected || this.connecting) return;
    this.connecting = true;
    // Keeping the stores keeps the sent-but-unacknowledged messages, which mqtt.js re-sends.
    client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
  }

  /** Takes one reading of these values now: sent at once when possible, else buffered. */
  telemetry(values: Record<string, number>): TelemetryRecord {
    const record: TelemetryRecord = { ts: Math.round(this.deviceTime()), seq: this.seq++, values };
    this.counts.produced++;
    if (this.connected && this.buffer.size === 0 && this.inFlight < this.window()) this.send(record);
    else {
      this.buffer.push(record);
      this.counts.bufferedPeak = Math.max(this.counts.bufferedPeak, this.buffer.size);
    }
    return record;
  }

  /** Reports its health now; skipped while offline (a heartbeat is about the present). */
  heartbeat(status: HealthStatus, components: Record<string, ComponentHealth> = {}, radio: Radio = {}): void {
    if (!this.connected || !this.client) return;
    const payload = {
      ts: Math.round(this.deviceTime()),
      kind: this.options.kind,
      status,
      components,
      uptime_s: Math.floor((this.options.clock.now() - this.bootTs) / 1000),
      fw: this.options.fw ?? '1.0.0',
      ...radio,
    };
    this.client.publish(this.topic('heartbeat'), JSON.stringify(payload), { qos: 1 });
  }

  /** Sends a payload as it is, e.g. a broken one; only while connected. */
  sendRaw(payload: string, kind: 'telemetry' | 'heartbeat' = 'telemetry'): void {
    if (!this.connected || !this.client) return;
    this.client.publish(this.topic(kind), payload, { qos: 1 });
  }

  /** Radio loss: the connection dies without a DISCONNECT (the broker publishes the last will). */
  dropConnection(): void {
    this.silent = true;
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    this.client?.stream.destroy();
  }

  /** Radio back: reconnects and replays what it buffered. */
  restoreConnection(): void {
    this.silent = false;
    this.attempt = 0;
    this.reconnectNow();
  }

  private window(): number {
    return this.options.window ?? DEFAULT_WINDOW;
  }

  private encode(record: TelemetryRecord): string {
    if (this.options.format === 'senml') {
      const entries = Object.entries(record.values);
      return JSON.stringify(
        entries.map(([metric, v], i) => ({
          ...(i === 0 && { bn: `${this.id}/`, bt: record.ts / 1000 }),
          n: metric,
          u: METRICS.get(metric)?.unit,
          v,
        })),
      );
    }
    return JSON.stringify({ ts: record.ts, seq: record.seq, ...record.values });
  }

  private send(record: TelemetryRecord): void {
    const client = this.client;
    if (!client) return;
    this.inFlight++;
    this.counts.sent++;
    client.publish(this.topic('telemetry'), this.encode(record), { qos: 1 }, (err) => {
      this.inFlight--;
      if (err) {
        // The client gave up on it (a forced close): it goes back to the buffer, unless stopping.
        if (!this.stopped) this.buffer.putBack(record);
      } else {
        this.counts.acked++;
        if (this.inFlight === 0) this.buffer.delivered();
      }
      this.pump();
      this.notify();
    });
  }

  private pump(): void {
    while (this.connected && this.inFlight < this.window()) {
      const record = this.buffer.shift();
      if (!record) break;
      this.send(record);
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = () => {
        if (!condition()) return;
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Resolves when it may take another reading without outrunning the broker: no connection
   * attempt under way (simulated time does not pass during one) and, when connected, fewer
   * unacknowledged messages than its window.
   */
  ready(): Promise<void> {
    return this.until(() => !this.connecting && (!this.connected || this.inFlight < this.window()));
  }

  /** Resolves when no reading it sent waits for its acknowledgement (a device offline has none on the way). */
  settled(): Promise<void> {
    return this.until(() => !this.connecting && (!this.connected || (this.inFlight === 0 && this.buffer.size === 0)));
  }

  /** Resolves when connected with every reading delivered and acknowledged. */
  delivered(): Promise<void> {
    return this.until(() => this.connected && this.inFlight === 0 && this.buffer.size === 0);
  }

  /** Resolves when connected. */
  online(): Promise<void> {
    return this.until(() => this.connected);
  }

  /** Shuts down cleanly: says `offline` (a clean DISCONNECT fires no last will) and disconnects. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelReconnect?.();
    const client = this.client;
    if (!client) return;
    if (this.connected) {
      await client.publishAsync(this.topic('status'), 'offline', { qos: 1, retain: true }).catch(() => undefined);
      await client.endAsync();
    } else {
      await client.endAsync(true);
    }
    this.notify();
  }
}
