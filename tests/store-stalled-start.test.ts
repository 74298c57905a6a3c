// An InfluxDB that takes connections and never answers must not hold the hub's start for its
// queries' time limits: the hub starts within a few seconds, says so, and keeps readings in the
// journal until the store answers.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Alert } from '../hub/domain/alert.ts';
import { capturedLog, eventually, metric, startTestHub, type TestHub } from './support/hub.ts';

describe('a store that does not answer at start', () => {
  let hub: TestHub | undefined;
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterAll(async () => {
    await hub?.dispose();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  });

  it('starts without it, while its first query still waits', async () => {
    let closed = 0;
    server = createServer((socket) => {
      sockets.push(socket);
      socket.on('close', () => closed++);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const { log, lines } = capturedLog();
    hub = await startTestHub({
      log,
      influxUrl: `http://127.0.0.1:${port}/floorwatch`,
      config: { rules: { storage_down_after: '1s' } },
    });
    // The store's query waits out its 10 s limit; the hub did not.
    expect(sockets.length).toBeGreaterThan(0);
    expect(closed).toBe(0);
    expect(lines).toContain(
      'storage has not answered within 3 s at start; the hub starts without it, and readings are kept in the journal until it does',
    );
    expect((await hub.api('/api/v1/health')).status).toBe(503);
  });

  it('says storage is down once a write has waited for it longer than storage_down_after', async () => {
    const client = await mqtt.connectAsync(hub!.mqttUrl, { clientId: 'env-1' });
    await client.publishAsync('floorwatch/devices/env-1/telemetry', JSON.stringify({ co2: 600 }), { qos: 1 });
    await client.endAsync();
    // Its first write still waits for the query the start began, well within the store's 10 s.
    const alert = await eventually(
      async () =>
        (await hub!.json<{ alerts: Alert[] }>('/api/v1/alerts?state=firing')).alerts.find(
          (a) => a.key === 'storage_down.hub',
        ),
      { what: 'the storage_down alert' },
    );
    expect(alert.summary).toMatch(/^storage down: influxdb has not answered a write for \d+ s; readings wait/);
    // Health and the store's gauge say so too, though no write has failed.
    const response = await hub!.api('/api/v1/health');
    expect(response.status).toBe(503);
    const health = (await response.json()) as { checks: { store: { ok: boolean; detail: string } } };
    expect(health.checks.store).toMatchObject({ ok: false });
    expect(health.checks.store.detail).toMatch(/^influxdb down: has not answered a write for \d+ s$/);
    expect(await metric(hub!, /^floorwatch_store_up(?:\{[^}]*\})? (\d+)$/m)).toBe(0);
  });
});
