// Counts kept on the hot path in plain numbers: what a scrape or a read of the counter reports.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../hub/telemetry/metrics.ts';

describe('a counter bumped for every message', () => {
  it('reports what its tallies counted, by labels, once each, whether scraped or read', async () => {
    const metrics = createMetrics();
    const mqtt = metrics.messagesIn.tally({ source: 'mqtt', kind: 'telemetry' });
    const serial = metrics.messagesIn.tally({ source: 'serial', kind: 'telemetry' });
    // The same labels share one count, however many hand it out.
    const again = metrics.messagesIn.tally({ source: 'mqtt', kind: 'telemetry' });
    mqtt.inc();
    mqtt.inc(2);
    again.inc();
    serial.inc();
    const scrape = await metrics.registry.metrics();
    expect(scrape).toContain('floorwatch_messages_received_total{source="mqtt",kind="telemetry"} 4');
    expect(scrape).toContain('floorwatch_messages_received_total{source="serial",kind="telemetry"} 1');

    mqtt.inc();
    const read = await metrics.messagesIn.get();
    expect(read.values.map((v) => [v.labels.source, v.value])).toEqual([
      ['mqtt', 5],
      ['serial', 1],
    ]);
    // Nothing counted twice by reading twice.
    expect((await metrics.messagesIn.get()).values.map((v) => v.value)).toEqual([5, 1]);
  });

  it('counts without labels as well', async () => {
    const metrics = createMetrics();
    metrics.readingsAccepted.tally().inc(3);
    metrics.readingsAccepted.tally().inc(2);
    expect((await metrics.readingsAccepted.get()).values[0]?.value).toBe(5);
  });
});
