// An HTTP client that sends its headers and then stalls (a sensor that lost power mid-request, or
// one that drips a byte a minute) must not hold its socket for good: past
// limits.http_request_timeout the hub answers 408 and closes the connection.
import { connect } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';

describe('an HTTP request that stalls', () => {
  let hub: TestHub | undefined;
  afterAll(async () => {
    await hub?.dispose();
  });

  it('is answered 408 and its connection closed after limits.http_request_timeout; a WebSocket stays', async () => {
    hub = await startTestHub({ config: { limits: { http_request_timeout: '1s' } } });
    const { hostname, port } = new URL(hub.hub.url);
    // A device on MQTT over WebSocket, upgraded from a request on the same server, is not one.
    const device = await mqtt.connectAsync(`ws://${hostname}:${port}/mqtt`, { clientId: 'env-1', reconnectPeriod: 0 });
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    // The headers promise a body that never comes.
    socket.write(
      `POST /api/v1/readings HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"co2":`,
    );
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(device.connected).toBe(true);
    await device.publishAsync('floorwatch/devices/env-1/telemetry', JSON.stringify({ co2: 600 }), { qos: 1 });
    await device.endAsync();
  });
});
