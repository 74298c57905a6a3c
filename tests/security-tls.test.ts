// MQTTS and HTTPS from a test CA made with openssl, as the README tells a site to: a device logs
// in with its certificate (CN = device id), a plaintext client on the MQTTS port gets nowhere, and
// security.require_tls leaves no plain MQTT port open.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../hub/config/config.ts';
import { startHub } from '../hub/hub.ts';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { freePort } from './support/influxd.ts';
import { eventually, startTestHub, tempDir, testEnv, type TestHub } from './support/hub.ts';
import { connackRefusal } from './support/mqtt.ts';
import { makeTestCa } from './support/tls.ts';

const run = promisify(execFile);

describe('TLS', () => {
  let hub: TestHub;
  let certs: string;
  const file = (name: string) => readFileSync(join(certs, name));

  beforeAll(async () => {
    certs = tempDir('floorwatch-ca-');
    await makeTestCa(certs);
    hub = await startTestHub({
      config: {
        security: {
          tls: {
            cert: join(certs, 'server.crt'),
            key: join(certs, 'server.key'),
            ca: join(certs, 'ca.crt'),
            mqtt_port: 0,
          },
        },
      },
    });
  });
  afterAll(async () => {
    await hub?.dispose();
    if (certs) rmSync(certs, { recursive: true, force: true });
  });

  const mqttsUrl = () => `mqtts://127.0.0.1:${hub.hub.mqttsPort}`;

  it('accepts a device by its certificate over MQTTS and stores what it sends', async () => {
    const client = await mqtt.connectAsync(mqttsUrl(), {
      clientId: 't-9',
      ca: file('ca.crt'),
      cert: file('t-9.crt'),
      key: file('t-9.key'),
    });
    await client.publishAsync('floorwatch/devices/t-9/telemetry', JSON.stringify({ co2: 700 }), { qos: 1 });
    await client.endAsync();
    // mosquitto_pub, a client no one here wrote, with the same files.
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hub.hub.mqttsPort),
      '--cafile',
      join(certs, 'ca.crt'),
      '--cert',
      join(certs, 't-9.crt'),
      '--key',
      join(certs, 't-9.key'),
      '-i',
      't-9',
      '-q',
      '1',
      '-t',
      'floorwatch/devices/t-9/telemetry',
      '-m',
      '{"co2":710}',
    ]);
    const values = await eventually(async () => {
      const body = await new Promise<string>((resolve, reject) => {
        request(`${hub.hub.url}/api/v1/readings?device=t-9&metric=co2&from=-1h`, { ca: file('ca.crt') }, (res) => {
          expect(res.headers['strict-transport-security']).toMatch(/max-age/);
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      const points = (JSON.parse(body) as { points: Array<{ value: number }> }).points.map((p) => p.value);
      return points.length === 2 && points;
    });
    expect(values).toEqual([700, 710]);
    expect(hub.hub.url).toMatch(/^https:/);
  });

  it('refuses a certificate from another CA, a certificate used under another client id, and no certificate at all', async () => {
    const refused = (options: mqtt.IClientOptions) => connackRefusal(mqttsUrl(), { ca: file('ca.crt'), ...options });
    expect(await refused({ clientId: 't-9', cert: file('rogue.crt'), key: file('rogue.key') })).toBe(5);
    expect(await refused({ clientId: 't-10', cert: file('t-9.crt'), key: file('t-9.key') })).toBe(2);
    expect(await refused({ clientId: 't-11' })).toBe(5);
  });

  it('gives a plaintext client on the MQTTS port nothing', async () => {
    expect(
      await outcome(
        mqtt.connect(`mqtt://127.0.0.1:${hub.hub.mqttsPort}`, {
          clientId: 'plain-1',
          reconnectPeriod: 0,
          connectTimeout: 5000,
        }),
      ),
    ).toBe('closed');
  });

  it('opens no plain MQTT port with security.require_tls: devices use MQTTS, or MQTT over WebSocket on the HTTPS port', async () => {
    const dataDir = tempDir();
    const plainPort = await freePort();
    const tls = {
      cert: join(certs, 'server.crt'),
      key: join(certs, 'server.key'),
      ca: join(certs, 'ca.crt'),
      mqtt_port: 0,
    };
    const tlsOnly = await startHub({
      config: loadConfig({
        env: testEnv(dataDir, { mqttPort: plainPort, config: { security: { require_tls: true, tls } } }),
      }),
    });
    try {
      expect(tlsOnly.mqttPort).toBeUndefined();
      // Nothing listens where plain MQTT would be: the TCP connection itself is refused (a broker's
      // refusal would read "Connection error: Connection Refused: not authorised").
      const plain = run('mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(plainPort),
        '-i',
        't-9',
        '-t',
        'floorwatch/devices/t-9/telemetry',
        '-m',
        '{"co2":700}',
      ]);
      await expect(plain).rejects.toMatchObject({
        stderr: expect.stringMatching(/^Error: Connection refused$/m) as unknown,
      });

      const overTls = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsOnly.mqttsPort}`, {
        clientId: 't-9',
        ca: file('ca.crt'),
        cert: file('t-9.crt'),
        key: file('t-9.key'),
        reconnectPeriod: 0,
      });
      await overTls.publishAsync('floorwatch/devices/t-9/telemetry', JSON.stringify({ co2: 700 }), { qos: 1 });
      await overTls.endAsync();

      const password = await new DeviceCredentials(dataDir).add('t-9', undefined, Date.now());
      const overWss = await mqtt.connectAsync(`wss://127.0.0.1:${tlsOnly.httpPort}/mqtt`, {
        clientId: 't-9',
        username: 't-9',
        password,
        ca: file('ca.crt'),
        reconnectPeriod: 0,
      });
      await overWss.publishAsync('floorwatch/devices/t-9/telemetry', JSON.stringify({ co2: 710 }), { qos: 1 });
      await overWss.endAsync();
      expect(
        await outcome(
          mqtt.connect(`ws://127.0.0.1:${tlsOnly.httpPort}/mqtt`, {
            clientId: 't-9',
            username: 't-9',
            password,
            reconnectPeriod: 0,
            connectTimeout: 5000,
          }),
        ),
      ).toBe('closed');
    } finally {
      await tlsOnly.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start with security.require_tls but no TLS configured, naming the field', async () => {
    const dataDir = tempDir();
    try {
      const env = { ...process.env, ...testEnv(dataDir, {}), FLOORWATCH_SECURITY__REQUIRE_TLS: 'true' };
      await expect(
        run(process.execPath, ['--import', 'tsx', 'hub/main.ts'], { env, timeout: 30_000 }),
      ).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringMatching(
          /security\.require_tls \(found true\): needs security\.tls \(cert and key\).* \[from FLOORWATCH_SECURITY__REQUIRE_TLS\]/,
        ) as unknown,
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Whether a client that should get nowhere connected, or saw its connection closed. */
async function outcome(client: MqttClient): Promise<'connected' | 'closed'> {
  try {
    return await new Promise((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('close', () => resolve('closed'));
    });
  } finally {
    client.end(true);
  }
}
