import { defineConfig } from 'vitest/config';

// Tests that start no server, no process and no browser, and need no root: seconds, run first
// while changing code (`npm run test:unit`). Everything else is an integration test, a new file
// included.
const UNIT = [
  'tests/rules-ledger-history.test.ts',
  'tests/reports-bounds.test.ts',
  'tests/clip.test.ts',
  'tests/rules-ledger-prune.test.ts',
  'tests/store-writer-unanswered.test.ts',
  'tests/rules-hub-health.test.ts',
  'tests/store-sqlite-threads.test.ts',
  'tests/notifier-order.test.ts',
  'tests/journal-held.test.ts',
  'tests/telemetry-log.test.ts',
  'tests/disk-space.test.ts',
  'tests/timers.test.ts',
  'tests/api-readings-waiting.test.ts',
  'tests/broker-connecting.test.ts',
  'tests/security-audit.test.ts',
  'tests/security-api-rate.test.ts',
  'tests/broker-subscriptions.test.ts',
  'tests/counted.test.ts',
  'tests/cluster-term-starts.test.ts',
  'tests/cluster-away-sessions.test.ts',
  'tests/cluster-health.test.ts',
  'tests/alert-event.test.ts',
  'tests/cluster-failed-entries.test.ts',
  'tests/store-beyond-retention.test.ts',
  'tests/floor-plan.test.ts',
  'tests/compose-lifecycle.test.ts',
  'tests/admission.test.ts',
  'tests/metrics.test.ts',
  'tests/topics.test.ts',
  'tests/devices-registry.test.ts',
  'tests/api-routes.test.ts',
  'tests/backoff.test.ts',
  'tests/config.test.ts',
  'tests/config-changes.test.ts',
  'tests/ingest.test.ts',
  'tests/ingest-duplicates.test.ts',
  'tests/journal.test.ts',
  'tests/journal-entry-json.test.ts',
  'tests/notify-message.test.ts',
  'tests/notify-routes.test.ts',
  'tests/outbox.test.ts',
  'tests/packet-scanner.test.ts',
  'tests/read-turns.test.ts',
  'tests/reports-season.test.ts',
  'tests/rules-engine.test.ts',
  'tests/rules-lifecycle.test.ts',
  'tests/rules-requirements.test.ts',
  'tests/rules-rulebook.test.ts',
  'tests/rules-schedule.test.ts',
  'tests/rules-view.test.ts',
  'tests/rules-windows.test.ts',
  'tests/rules-window.test.ts',
  'tests/store-influx-client.test.ts',
  'tests/store-influx-influxql.test.ts',
  'tests/store-influx-line-protocol.test.ts',
  'tests/store-influx-schema.test.ts',
  'tests/store-pending-minutes.test.ts',
  'tests/store-sqlite.test.ts',
  'tests/store-validate.test.ts',
  'tests/structure.test.ts',
  'tests/topic-rules.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // What a browser or a hub shows may take a loaded machine more than expect.poll's default second.
    expect: { poll: { timeout: 10_000 } },
    // Integration files start real servers; two at a time suits a 2-core machine.
    maxWorkers: 2,
    pool: 'forks',
    // Each worker keeps its modules from one file to the next: importing the hub afresh for every
    // file took a third of the run. Files share no state but what they start and stop themselves.
    isolate: false,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/**/*.test.ts'],
          exclude: UNIT,
          // One InfluxDB for all integration files.
          globalSetup: ['tests/support/global-setup.ts'],
        },
      },
    ],
  },
});
