// Keepalive as MQTT 3.1.1 defines it: 0 (none) and values above limits.max_keepalive are
// accepted with CONNACK 0, never with the undefined code 6. A client that asked for more than the
// limit is held to it (closed after 1.5 × max_keepalive of silence); one that asked for none is
// watched by TCP keepalive instead, so a vanished peer is still found.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';
import { PACKET, RawMqtt } from './support/mqtt.ts';

const run = promisify(execFile);
const PINGREQ = Buffer.from([0xc0, 0]);

describe('MQTT keepalive', () => {
  let hub: TestHub;
  let port: number;

  beforeAll(async () => {
    hub = await startTestHub({ config: { limits: { max_keepalive: '2s' } } });
    port = hub.hub.mqttPort ?? 0;
  });
  afterAll(async () => hub?.dispose());

  it('accepts keepalive 0 and a keepalive above the limit with CONNACK 0 (raw CONNECT)', async () => {
    for (const keepalive of [0, 3, 600, 65535]) {
      const { client, returnCode } = await RawMqtt.connect(port, { clientId: `ka-${keepalive}`, keepalive });
      expect({ keepalive, returnCode }).toEqual({ keepalive, returnCode: 0 });
      await client.close();
    }
  });

  it('lets mosquitto_pub with the longest keepalive it can ask for (-k 65535) publish, and mqtt.js with keepalive 0', async () => {
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-k',
      '65535',
      '-q',
      '1',
      '-i',
      'ka-mosq',
      '-t',
      'floorwatch/devices/ka-mosq/telemetry',
      '-m',
      '{"temperature":21}',
    ]);
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'ka-mqttjs', keepalive: 0, reconnectPeriod: 0 });
    await client.publishAsync('floorwatch/devices/ka-mqttjs/telemetry', '{"temperature":22}', { qos: 1 });
    await client.endAsync();
  });

  it('closes a silent client that asked for more than the limit after 1.5 × the limit, and keeps one that asked for none', async () => {
    const none = await RawMqtt.connect(port, { clientId: 'ka-none', keepalive: 0 });
    const long = await RawMqtt.connect(port, { clientId: 'ka-long', keepalive: 3600 });
    const started = Date.now();
    await long.client.closed;
    const silentFor = Date.now() - started;
    expect(silentFor).toBeGreaterThanOrEqual(2500);
    expect(silentFor).toBeLessThan(10_000);
    // The client without a keepalive, silent just as long, is still served.
    none.client.write(PINGREQ);
    await none.client.expect(PACKET.pingresp);
    await none.client.close();
  });

  it('turns TCP keepalive on for every MQTT connection, so a peer that vanished is found without an MQTT keepalive', async () => {
    const { client } = await RawMqtt.connect(port, { clientId: 'ka-tcp', keepalive: 0 });
    const clientPort = client.socket.localPort;
    // The hub's end of this connection: local port = the hub's, peer = this client.
    const { stdout } = await run('ss', [
      '-tnoH',
      'state',
      'established',
      `( sport = :${port} and dport = :${clientPort} )`,
    ]);
    expect(stdout).toMatch(/timer:\(keepalive,/);
    await client.close();
  });
});
