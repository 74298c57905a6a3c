// The hub's own measurements, exposed at /metrics in Prometheus format. One registry per hub so
// several hubs in one process (tests) do not share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'floorwatch_process_' });
  const registers = [registry];
  return {
    registry,
    messagesIn: new Counter({ name: 'floorwatch_messages_received_total', help: 'Messages received, by source and kind', labelNames: ['source', 'kind'] as const, registers }),
    readingsAccepted: new Counter({ name: 'floorwatch_readings_accepted_total', help: 'Readings accepted into the journal', registers }),
    readingsStored: new Counter({ name: 'floorwatch_readings_stored_total', help: 'Readings written to the store', registers }),
    rejections: new Counter({ name: 'floorwatch_rejections_total', help: 'Messages or values refused, by reason', labelNames: ['reason'] as const, registers }),
    duplicates: new Counter({ name: 'floorwatch_duplicates_dropped_total', help: 'Readings dropped because the same (device, seq) or (device, metric, ts) was already journaled', registers }),
    clockCorrections: new Counter({ name: 'floorwatch_clock_corrections_total', help: 'Readings whose device timestamp was outside the allowed skew and were stored at receive time', registers }),
    journalLag: new Gauge({ name: 'floorwatch_journal_lag_entries', help: 'Journal entries a consumer has not yet committed', labelNames: ['consumer'] as const, registers }),
    journalWritable: new Gauge({ name: 'floorwatch_journal_writable', help: '1 when the journal can write to disk', registers }),
    storeUp: new Gauge({ name: 'floorwatch_store_up', help: '1 when the last store write succeeded', registers }),
    storeWriteSeconds: new Histogram({
      name: 'floorwatch_store_write_seconds',
      help: 'Time to write one batch to the store',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    storeWriteFailures: new Counter({ name: 'floorwatch_store_write_failures_total', help: 'Store write attempts that failed (retried)', registers }),
    mqttClients: new Gauge({ name: 'floorwatch_mqtt_clients', help: 'Connected MQTT clients', registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
