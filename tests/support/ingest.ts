// Ingest as pure logic, with a plain array for its journal: what the ingest unit tests share.
import type { Entry } from '../../hub/domain/reading.ts';
import { Ingest, type IncomingMessage, type IngestSettings } from '../../hub/ingest/ingest.ts';
import { KnownDevices } from '../../hub/ingest/known-devices.ts';
import { RejectionLog, type RejectionRecord } from '../../hub/ingest/rejections.ts';
import { createMetrics } from '../../hub/telemetry/metrics.ts';

export const NOW = Date.UTC(2026, 10, 29, 9, 0, 0);

const settings: IngestSettings = {
  maxClockSkewMs: 300_000,
  maxReplayAgeMs: 7 * 86_400_000,
  maxPayloadBytes: 64 * 1024,
  maxMetricsPerDevice: 8,
  maxComponentsPerDevice: 4,
  acceptUndeclaredDevices: true,
};

export function setup(overrides: Partial<IngestSettings> = {}) {
  const journal: Entry[] = [];
  const logged: RejectionRecord[] = [];
  const metrics = createMetrics();
  const rejections = new RejectionLog({ capacity: 5, now: () => NOW, log: (r) => logged.push(r) });
  let failAppend = false;
  const ingest = new Ingest({
    settings: { ...settings, ...overrides },
    declaredZones: new Map([['t-1', 'floor-a']]),
    knownDevices: new KnownDevices({ max: 1000, configured: ['t-1'] }),
    append: async (entries) => {
      if (failAppend) throw new Error('no space left on device');
      journal.push(...entries);
    },
    rejections,
    metrics,
  });
  const send = (payload: string | object, extra: Partial<IncomingMessage> = {}) =>
    ingest.accept({
      source: 'mqtt',
      kind: 'telemetry',
      device: 't-1',
      payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
      receivedAt: NOW,
      ...extra,
    });
  const readings = () => journal.flatMap((e) => (e.type === 'readings' ? e.readings : []));
  return { ingest, journal, readings, rejections, logged, metrics, send, failNext: (v: boolean) => (failAppend = v) };
}
