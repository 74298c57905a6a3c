// A bounded fleet of mqtt.js devices publishing QoS 1 readings, recording which ones were
// acknowledged. Each reading has its own (device, ts) and a value that encodes both, so the store
// can be checked reading by reading.
import mqtt, { type MqttClient } from 'mqtt';

export interface FleetOptions {
  url: string;
  devices: number;
  readingsPerDevice: number;
  /** Messages each device keeps in flight. */
  window: number;
  baseTs: number;
  /** Pause between a device's messages, to stretch a run over time. */
  intervalMs?: number;
  /** Default co2, whose range holds the encoded values of up to 40,000 readings. */
  metric?: string;
  /** Device ids are `<prefix>-<n>`; default 'load'. Two fleets on one store need their own. */
  prefix?: string;
}

export interface Fleet {
  acked: () => number;
  /** Resolves when every reading of every device has been acknowledged. */
  done: Promise<void>;
  /** Resolves when at least n readings have been acknowledged. */
  ackedAtLeast(n: number): Promise<void>;
  value(device: number, i: number): number;
  ts(i: number): number;
  deviceId(device: number): string;
  stop(): Promise<void>;
}

export function startFleet(options: FleetOptions): Fleet {
  const metric = options.metric ?? 'co2';
  const clients: MqttClient[] = [];
  let acked = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const deviceId = (d: number) => `${options.prefix ?? 'load'}-${d}`;
  const value = (d: number, i: number) => d * options.readingsPerDevice + i;
  const ts = (i: number) => options.baseTs + i * 1000;
  const onAck = () => {
    acked++;
    for (const w of waiters.filter((w) => acked >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };

  const runDevice = async (d: number) => {
    // Reconnects quickly to a restarted hub and re-sends what was not acknowledged.
    const client = mqtt.connect(options.url, {
      clientId: deviceId(d),
      reconnectPeriod: 100,
      connectTimeout: 5000,
      clean: true,
    });
    client.on('error', () => undefined);
    clients.push(client);
    let next = 0;
    const worker = async () => {
      while (next < options.readingsPerDevice) {
        const i = next++;
        // mqtt.js rejects a publish made while it re-sends its queue after a reconnect if the
        // connection closes again meanwhile; the reading was not acknowledged, so it is sent again.
        for (;;) {
          try {
            await client.publishAsync(
              `floorwatch/devices/${deviceId(d)}/telemetry`,
              JSON.stringify({ ts: ts(i), seq: i, [metric]: value(d, i) }),
              { qos: 1 },
            );
            break;
          } catch (err) {
            if (client.disconnecting || (err as Error).message !== 'Connection closed') throw err;
          }
        }
        onAck();
        if (options.intervalMs) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
      }
    };
    await Promise.all(Array.from({ length: options.window }, worker));
  };

  const done = Promise.all(Array.from({ length: options.devices }, (_, d) => runDevice(d))).then(() => undefined);
  return {
    acked: () => acked,
    done,
    ackedAtLeast: (n) => (acked >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    value,
    ts,
    deviceId,
    stop: async () => {
      await Promise.all(clients.map((c) => c.endAsync(true)));
    },
  };
}
