// The hub stopping (SIGTERM) while a notification is on its way to a receiver that took the
// connection and never answers: it stops in seconds, cleanly, the notification kept for the next
// start, rather than waiting out the receiver's timeout or the stop limit of a part.
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { eventually, spawnHub, tempDir } from './support/hub.ts';

describe('hub process', () => {
  it('stops on SIGTERM while a webhook receiver holds a notification and never answers', async () => {
    // Takes the connection and the request, and answers nothing, for ever.
    const held: Socket[] = [];
    let requested = '';
    const receiver = createServer((socket) => {
      held.push(socket);
      socket.on('data', (chunk: Buffer) => (requested += chunk.toString()));
    }).listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const dir = tempDir();
    const hubProcess = await spawnHub(dir, {
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        devices: [{ id: 's-1', kind: 'sensor', zone: 'floor-a' }],
        notify: {
          group_wait: '0s',
          receivers: [
            {
              name: 'desk',
              webhook: {
                url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
                secret: 'a-secret-of-sixteen-chars',
              },
            },
          ],
        },
      },
    });
    let exit;
    try {
      const sensor = await mqtt.connectAsync(hubProcess.mqttUrl, { clientId: 's-1', reconnectPeriod: 0 });
      await sensor.publishAsync('floorwatch/devices/s-1/telemetry', JSON.stringify({ co2: 1600 }), { qos: 1 });
      await sensor.endAsync();
      await eventually(() => requested.includes('POST /hook'), { what: 'the notification, held by the receiver' });
      const asked = Date.now();
      hubProcess.child.kill('SIGTERM');
      exit = await hubProcess.exited;
      // The delivery in flight is given 2 s, not the webhook's 10 s timeout nor a part's 10 s stop limit.
      expect(Date.now() - asked).toBeLessThan(9_000);
    } finally {
      if (hubProcess.child.exitCode === null && hubProcess.child.signalCode === null) hubProcess.child.kill('SIGKILL');
      await hubProcess.exited;
      for (const socket of held) socket.destroy();
      receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(exit.code).toBe(0);
    expect(hubProcess.output()).toContain('notifications still on their way to receiver desk at stop');
    expect(hubProcess.output()).not.toContain('did not stop within');
    expect(hubProcess.output()).toContain('hub stopped');
  });
});
