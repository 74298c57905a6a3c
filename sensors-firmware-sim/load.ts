// Load mode for benchmarks: N devices, each publishing QoS 1 messages at a rate (or as fast as its
// window of unacknowledged messages allows), plain JSON with one reading each, SenML batches of K
// readings, or heartbeats, bounded by a message count and a duration. All devices connect first;
// the clock for the send phase starts when the last one is connected. Reports what was sent, what
// the broker acknowledged, and optionally how long each acknowledgement took.
import mqtt, { type MqttClient } from 'mqtt';

export interface LoadOptions {
  url: string;
  devices: number;
  /** Messages per second per device; 0 = as fast as the window allows. */
  rate: number;
  format: 'json' | 'senml' | 'heartbeat';
  /** Readings per SenML message (json: always 1). */
  batch: number;
  /** Messages per device, at most. */
  messages: number;
  /** Stops sending after this long, ms. */
  durationMs: number;
  /** Unacknowledged messages per device, at most. */
  window?: number;
  prefix?: string;
  /** Device ids are `${idPrefix}${n}`. */
  idPrefix?: string;
  username?: string;
  password?: string;
  /** How long to wait for outstanding acknowledgements once sending has stopped, ms. */
  settleMs?: number;
  /**
   * 'sequence' (default): readings 1 ms apart per device, ending at the start. 'publish': each
   * reading is stamped when it is published, so the hub's reading-age metrics measure latency.
   */
  timestamps?: 'sequence' | 'publish';
  /** Record each message's publish → PUBACK time. */
  latencies?: boolean;
  /** Connections opened at once while connecting. Default 200. */
  connectConcurrency?: number;
  /** Called with how many devices connected, once all have tried, before the first message. */
  onConnected?: (connected: number) => void | Promise<void>;
}

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

export interface LoadReport {
  devices: number;
  connected: number;
  messagesSent: number;
  messagesAcked: number;
  readingsSent: number;
  readingsAcked: number;
  /** Time to connect every device, ms. */
  connectMs: number;
  /** The send phase, from the first message to the last acknowledgement, ms. */
  elapsedMs: number;
  /** Acknowledged readings per second over the send phase. */
  readingsPerSecond: number;
  /** Publish → PUBACK, ms, when `latencies` was asked for. */
  ackLatencyMs?: Percentiles;
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  // Nearest rank: of 100 samples, the 99th smallest is p99 and only the largest is the max.
  const at = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const batch = options.format === 'senml' ? Math.max(1, options.batch) : 1;
  const window = options.window ?? 16;
  const prefix = options.prefix ?? 'floorwatch';
  const idPrefix = options.idPrefix ?? 'load-';
  const kind = options.format === 'heartbeat' ? 'heartbeat' : 'telemetry';
  const totals = { messagesSent: 0, messagesAcked: 0 };
  const latencies: number[] = [];
  const connectStarted = Date.now();
  // Timestamps 1 ms apart per device, ending now, so none is in the future and each is distinct.
  const baseTs = connectStarted - options.messages * batch;

  // Per device, the last stamp given: two messages in one millisecond would be one reading.
  const lastStamp = new Map<string, number>();
  const payload = (id: string, seq: number): string => {
    let ts = baseTs + seq * batch;
    if (options.timestamps === 'publish') {
      ts = Math.max(Date.now(), (lastStamp.get(id) ?? 0) + batch);
      lastStamp.set(id, ts);
    }
    if (options.format === 'heartbeat') return JSON.stringify({ ts, kind: 'pc', status: 'ok', uptime_s: seq });
    const value = 400 + (seq % 1000);
    if (options.format === 'json') return JSON.stringify({ ts, seq, co2: value });
    // Names and times after the first record are relative to its base name and base time.
    return JSON.stringify(
      Array.from({ length: batch }, (_, i) => ({
        ...(i === 0 && { bn: `${id}/`, bt: ts / 1000, bu: 'ppm' }),
        n: 'co2',
        ...(i > 0 && { t: i / 1000 }),
        v: value,
      })),
    );
  };

  const connectDevice = async (n: number): Promise<MqttClient | undefined> => {
    try {
      return await mqtt.connectAsync(options.url, {
        clientId: `${idPrefix}${n}`,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
        ...(options.username !== undefined && { username: options.username }),
        ...(options.password !== undefined && { password: options.password }),
      });
    } catch {
      return undefined;
    }
  };
  // Connect in waves so thousands of devices do not all knock at once.
  const clients: Array<MqttClient | undefined> = [];
  const concurrency = options.connectConcurrency ?? 200;
  for (let first = 1; first <= options.devices; first += concurrency) {
    const wave = Array.from({ length: Math.min(concurrency, options.devices - first + 1) }, (_, i) =>
      connectDevice(first + i),
    );
    clients.push(...(await Promise.all(wave)));
  }
  const connectMs = Date.now() - connectStarted;
  await options.onConnected?.(clients.filter((c) => c !== undefined).length);

  const started = Date.now();
  const deadline = started + options.durationMs;
  const runDevice = async (client: MqttClient, n: number) => {
    const id = `${idPrefix}${n}`;
    const topic = `${prefix}/devices/${id}/${kind}`;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    for (let seq = 0; seq < options.messages && Date.now() < deadline && client.connected; seq++) {
      if (options.rate > 0) {
        const due = started + (seq / options.rate) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      while (inFlight >= window) await new Promise<void>((resolve) => (wake = resolve));
      inFlight++;
      totals.messagesSent++;
      const sentAt = performance.now();
      client.publish(topic, payload(id, seq), { qos: 1 }, (err) => {
        inFlight--;
        if (!err) {
          totals.messagesAcked++;
          if (options.latencies) latencies.push(performance.now() - sentAt);
        }
        wake?.();
      });
    }
    const settleBy = Date.now() + (options.settleMs ?? 10_000);
    while (inFlight > 0 && Date.now() < settleBy && client.connected)
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), sleep(100)]);
  };

  await Promise.all(clients.flatMap((client, i) => (client ? [runDevice(client, i + 1)] : [])));
  const elapsedMs = Date.now() - started;
  await Promise.all(clients.flatMap((c) => (c ? [c.endAsync(true)] : [])));
  return {
    devices: options.devices,
    connected: clients.filter((c) => c !== undefined).length,
    messagesSent: totals.messagesSent,
    messagesAcked: totals.messagesAcked,
    readingsSent: options.format === 'heartbeat' ? 0 : totals.messagesSent * batch,
    readingsAcked: options.format === 'heartbeat' ? 0 : totals.messagesAcked * batch,
    connectMs,
    elapsedMs,
    readingsPerSecond: Math.round((totals.messagesAcked * batch * 1000) / Math.max(1, elapsedMs)),
    ...(options.latencies && { ackLatencyMs: percentiles(latencies) }),
  };
}
