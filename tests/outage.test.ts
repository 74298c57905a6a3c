// InfluxDB stopped for 30 s under load: the hub keeps acknowledging (the journal holds the
// readings), health shows the outage and the backlog, and after InfluxDB returns the backlog
// drains with nothing lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { startInfluxd, type InfluxdHandle } from './support/influxd.ts';
import { startFleet } from './support/load.ts';

interface Health {
  status: string;
  checks: { store: { ok: boolean; detail: string }; journal: { backlog: number } };
}

describe('InfluxDB outage under load', () => {
  let influxd: InfluxdHandle;
  let hub: TestHub;
  let store: InfluxStore;

  beforeAll(async () => {
    influxd = await startInfluxd();
    const url = `${influxd.url}/outage`;
    store = new InfluxStore({ url });
    hub = await startTestHub({ influxUrl: url });
  });
  afterAll(async () => {
    await hub?.dispose();
    await store?.close();
    await influxd?.dispose();
  });

  it('loses nothing, reports the backlog and drains it', async () => {
    const health = async () => {
      const response = await hub.api('/api/v1/health');
      return { code: response.status, body: (await response.json()) as Health };
    };
    const devices = 10;
    const perDevice = 400;
    const baseTs = Math.floor(Date.now() / 1000) * 1000 - perDevice * 1000;
    // About 100 readings a second for 40 s: before, during and after the outage.
    const fleet = startFleet({
      url: hub.mqttUrl,
      devices,
      readingsPerDevice: perDevice,
      window: 1,
      baseTs,
      intervalMs: 100,
    });
    await fleet.ackedAtLeast(200);

    await influxd.stop();
    const stoppedAt = Date.now();
    const ackedAtStop = fleet.acked();
    const down = await eventually(
      async () => {
        const h = await health();
        return h.code === 503 && h.body.checks.journal.backlog > 0 && h;
      },
      { what: 'health to report the store down with a backlog' },
    );
    expect(down.body.status).toBe('down');
    expect(down.body.checks.store.ok).toBe(false);
    expect(down.body.checks.store.detail).toMatch(/influxdb down/);

    // Readings keep being acknowledged during the outage: they are in the journal.
    await fleet.ackedAtLeast(ackedAtStop + 500);
    const backlogDuring = (await health()).body.checks.journal.backlog;
    expect(backlogDuring).toBeGreaterThan(100);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - stoppedAt))));

    await influxd.start();
    const drained = await eventually(
      async () => {
        const h = await health();
        return h.code === 200 && h.body.checks.store.ok && h;
      },
      { what: 'the store to come back', timeoutMs: 30_000 },
    );
    expect(drained.body.status).toMatch(/ok|degraded/);

    await fleet.done;
    await fleet.stop();
    await eventually(async () => (await health()).body.checks.journal.backlog === 0, { what: 'the backlog to drain' });
    const total = devices * perDevice;
    expect(await store.count({ metric: 'co2', from: baseTs, to: baseTs + perDevice * 1000 })).toBe(total);
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/floorwatch_store_write_failures_total [1-9]/);
  });
});
