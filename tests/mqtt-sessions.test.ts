// Sessions the broker keeps between connections (clean session false) are bounded by
// limits.max_persistent_sessions: a client asking for one more is refused, says why and is counted;
// one whose session is kept comes back, and a clean connection ends the session kept for its id.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { capturedLog, startTestHub, type TestHub } from './support/hub.ts';

describe('persistent sessions', () => {
  let hub: TestHub | undefined;
  const clients: MqttClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
    await hub?.dispose();
    hub = undefined;
  });

  /** Connects, subscribes and leaves; resolves with how the connection went. */
  const visit = async (clientId: string, clean: boolean): Promise<string> => {
    try {
      const client = await mqtt.connectAsync(hub!.mqttUrl, { clientId, clean, reconnectPeriod: 0 });
      clients.push(client);
      await client.subscribeAsync('site/lobby/#', { qos: 1 });
      await client.endAsync();
      return 'connected';
    } catch (err) {
      return String(err);
    }
  };
  const sessionsGauge = async () =>
    Number(/^floorwatch_mqtt_persistent_sessions (\d+)$/m.exec(await (await hub!.api('/metrics')).text())?.[1]);

  it('refuses a session past the limit, lets a kept one come back, and frees one for a clean connection', async () => {
    const captured = capturedLog();
    hub = await startTestHub({ config: { limits: { max_persistent_sessions: 2 } }, log: captured.log });
    // Names from outside are only ids here.
    expect(await visit('__proto__', false)).toBe('connected');
    expect(await visit('constructor', false)).toBe('connected');
    expect(await sessionsGauge()).toBe(2);

    expect(await visit('toString', false)).toMatch(/Server unavailable/);
    expect(captured.lines).toContain(
      'client toString asked to keep its session between connections, but 2 are kept, the most allowed (limits.max_persistent_sessions); refused. A client that connects with a clean session ends the one kept for it',
    );
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/floorwatch_mqtt_refused_total\{reason="sessions_full"\} 1/);

    // A client whose session is kept comes back to it; a clean session is always allowed.
    expect(await visit('__proto__', false)).toBe('connected');
    expect(await visit('display-7', true)).toBe('connected');
    // Connecting clean ends the session kept for that id, which makes room.
    expect(await visit('constructor', true)).toBe('connected');
    expect(await sessionsGauge()).toBe(1);
    expect(await visit('toString', false)).toBe('connected');
    expect(await sessionsGauge()).toBe(2);
  });

  it('refuses mosquitto_sub asking for one more session with the reason CONNACK gives', async () => {
    hub = await startTestHub({ config: { limits: { max_persistent_sessions: 1 } } });
    expect(await visit('panel-1', false)).toBe('connected');
    const port = new URL(hub.mqttUrl).port;
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-i', 'panel-2', '-c', '-q', '1', '-t', 'x/#']);
    let stderr = '';
    sub.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(sub, 'exit')) as [number | null];
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/unavailable/i);
  });
});
