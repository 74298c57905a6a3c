// A bridge whose broker is gone for good must not hold the journal until the disk is full: once
// its status and readings are bridges[].out.max_behind entries behind, the oldest are passed over,
// counted and logged.
import { afterAll, describe, expect, it } from 'vitest';
import { capturedLog, eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { freePort } from './support/influxd.ts';
import { co2Readings } from './support/mqtt.ts';

describe('a bridge whose broker is gone', () => {
  let hub: TestHub | undefined;
  afterAll(async () => {
    await hub?.dispose();
  });

  it('passes over the oldest entries past out.max_behind, and says so', async () => {
    // Nothing listens there.
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const { log, lines } = capturedLog();
    hub = await startTestHub({
      log,
      config: {
        zones: [{ id: 'floor-1', type: 'call_floor' }],
        bridges: [{ name: 'site', url, out: { readings: true, max_behind: 1000 } }],
      },
    });
    await co2Readings(hub.mqttUrl, 'env-1', 1100);
    // Passed over as the bridge's consumer wakes between its attempts: at least the 100 past the bound, in all.
    await eventually(
      async () => (await metric(hub!, /^floorwatch_bridge_entries_passed_over_total\{bridge="site"\} (\d+)$/m)) >= 100,
      { what: 'entries passed over for the bridge' },
    );
    expect(lines.find((l) => l.startsWith('bridge site:') && l.includes('passed over'))).toMatch(
      /^bridge site: mqtt:\/\/127\.0\.0\.1:\d+ is 1000 journal entries behind \(bridges\[\]\.out\.max_behind\), so the oldest are passed over: \d+ entr(y|ies) since the hub started, whose device status and readings never reach it$/,
    );
  });
});
