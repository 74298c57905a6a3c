// MQTT helpers shared by tests.
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
