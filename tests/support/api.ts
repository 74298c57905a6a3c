// The hub's HTTP API, the same routes as the hub's (compose/api.ts, registerApi), on real parts
// that live in memory, for tests of route logic alone: SQLite at ':memory:', the device registry,
// ingest with its rejection log, the rule engine on a hand-driven clock (rules-fixtures.ts), the
// access check of an open hub. Requests go through `app.inject`: no port, no broker, no journal;
// what ingest takes is applied at once to the store, the registry and the rules, as the journal's
// consumers would.
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Calibration } from '../../hub/ingest/calibration.ts';
import { LiveFeed } from '../../hub/feed/live-feed.ts';
import { loadConfig, ms, type Config } from '../../hub/config/config.ts';
import { DeviceRegistry } from '../../hub/devices/registry.ts';
import type { Entry } from '../../hub/domain/reading.ts';
import { Ingest } from '../../hub/ingest/ingest.ts';
import { KnownDevices } from '../../hub/ingest/known-devices.ts';
import { RejectionLog } from '../../hub/ingest/rejections.ts';
import { SetAsideLog } from '../../hub/journal/set-aside.ts';
import { parseShifts } from '../../hub/rules/exposure.ts';
import { siteRules } from '../../hub/rules/site.ts';
import { installApiAccess } from '../../hub/security/api-access.ts';
import { Revocations } from '../../hub/security/revocations.ts';
import { registerApi } from '../../hub/compose/api.ts';
import { forgetting, ingestSettings } from '../../hub/compose/intake.ts';
import { openSiteSecurity, type SiteSecurity } from '../../hub/compose/security.ts';
import type { GatewayState } from '../../hub/sources/serial.ts';
import { SqliteStore } from '../../hub/store/sqlite.ts';
import { createMetrics } from '../../hub/telemetry/metrics.ts';
import { engineFixture, T0, type EngineFixture } from '../rules-fixtures.ts';
import { testEnv } from './hub.ts';

export interface MemoryApi {
  app: FastifyInstance;
  config: Config;
  rules: EngineFixture;
  store: SqliteStore;
  registry: DeviceRegistry;
  rejections: RejectionLog;
  security: SiteSecurity;
  /** Every operation the app serves and does not hide from /docs, such as "GET /api/v1/devices/:id". */
  served: string[];
  /** POSTs a SenML pack as an integration would; the answer's status and body. */
  send(pack: unknown[]): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export interface MemoryApiOptions {
  config?: Record<string, unknown>;
  start?: number;
  /** What the serial source reports; none by default. */
  gateways?: GatewayState[];
  /** The API's rate limit per address and per token; none to speak of by default. */
  requestsPerMinute?: number;
  /** Journaling waits for this, as for a slow disk; at once by default. */
  journalWrites?: Promise<void>;
}

export async function memoryApi(options: MemoryApiOptions = {}): Promise<MemoryApi> {
  const rules = engineFixture(options.config ?? {}, options.start ?? T0);
  const { clock, dir } = rules;
  const config = loadConfig({ env: testEnv(dir, { config: options.config ?? {} }) });
  const metrics = createMetrics({ defaultMetrics: false });
  const log = pino({ level: 'silent' });
  const security = openSiteSecurity(config, clock.now, metrics);
  const store = new SqliteStore({ path: ':memory:', now: () => clock.now() });
  await store.init();
  const registry = new DeviceRegistry(
    config.devices.map((d) => ({
      id: d.id,
      kind: d.kind,
      zone: d.zone,
      heartbeatIntervalMs: ms(d.heartbeat_interval),
    })),
  );
  const rejections = new RejectionLog({ capacity: 1000, now: clock.now, log: () => undefined });
  const setAside = await SetAsideLog.open({ path: join(dir, 'set-aside.jsonl'), capacity: 100, now: clock.now });
  const apply = async (entries: Entry[]) => {
    await options.journalWrites;
    await store.write(entries.flatMap((e) => (e.type === 'readings' ? e.readings : [])));
    registry.apply(entries);
    rules.feed(...entries);
  };
  const calibration = new Calibration(dir, new Map());
  const knownDevices = new KnownDevices({
    max: config.limits.max_devices,
    configured: config.devices.map((d) => d.id),
  });
  const ingest = new Ingest({
    ...ingestSettings(config),
    calibration,
    knownDevices,
    append: apply,
    rejections,
    metrics,
  });

  const app = Fastify();
  const served: string[] = [];
  // HEAD routes are Fastify's own copies of the GET routes.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      if (method !== 'HEAD' && route.schema?.hide !== true) served.push(`${method} ${route.url}`);
  });
  installApiAccess(app, {
    tokens: security.tokens,
    writers: security.writers,
    allowAnonymous: false,
    allowedOrigins: [],
    requestsPerMinute: options.requestsPerMinute ?? 1_000_000,
    now: clock.now,
    https: false,
    log,
    metrics,
  });
  const revocations = new Revocations({
    credentials: security.credentials,
    tokens: security.tokens,
    log,
    metrics,
    audit: security.audit.record,
  });
  const site = () => siteRules(config, clock.t);
  await registerApi(app, 'test', {
    health: {
      health: async () => ({
        status: 'ok',
        checks: { store: { ok: true, detail: 'sqlite in memory', backend: store.name } },
      }),
    },
    metrics: { metrics, refresh: () => undefined },
    devices: {
      registry,
      forget: forgetting({ knownDevices, registry, append: apply, now: clock.now }),
      credentials: security.credentials,
      calibration,
      audit: security.audit.record,
      now: clock.now,
    },
    readings: {
      store,
      ingest,
      writers: security.writers,
      maxPayloadBytes: config.ingest.max_payload_bytes,
      now: clock.now,
    },
    rejections: { rejections, setAside },
    audit: { audit: security.audit },
    // Reloading itself is tested against a running hub (config-reload.test.ts); here, the route's shape.
    config: {
      reload: () => ({
        ok: true,
        problems: [],
        applied: [],
        needsRestart: [],
        hash: 'unchanged',
        loadedAt: clock.now(),
      }),
    },
    gateways: { gateways: () => options.gateways ?? [] },
    events: {
      feed: new LiveFeed(),
      revocations,
      maxStreams: config.limits.max_event_streams,
      maxStreamsPerToken: config.limits.max_event_streams_per_token,
      metrics,
      now: clock.now,
    },
    alerts: {
      engine: {
        ...rules.view,
        ack: rules.engine.ack.bind(rules.engine),
        addSilence: rules.engine.addSilence.bind(rules.engine),
        removeSilence: rules.engine.removeSilence.bind(rules.engine),
      },
      rules: site,
      now: clock.now,
      timeZone: config.site.timezone,
      audit: security.audit.record,
    },
    zones: {
      site: config.site.name,
      store,
      rules: site,
      engine: rules.view,
      devices: (at) => registry.counts(at),
      now: clock.now,
    },
    layout: {
      plan: () => (config.layout ? { settings: config.layout, background: undefined } : undefined),
      devicesAt: (positions, at) => registry.atPositions(positions, at),
      now: clock.now,
    },
    reports: {
      store,
      rules: (at) => siteRules(config, at),
      shifts: () => parseShifts(config.rules.shifts),
      devices: (at) => registry.list(at),
      atOnce: config.limits.reports_at_once,
      waiting: config.limits.reports_waiting,
      rawRetentionMs: ms(config.storage.raw_retention),
      now: clock.now,
    },
  });
  await app.ready();

  return {
    app,
    config,
    rules,
    store,
    registry,
    rejections,
    security,
    served,
    send: async (pack) => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/readings',
        headers: { 'content-type': 'application/senml+json' },
        payload: JSON.stringify(pack),
      });
      return { status: response.statusCode, body: response.json() };
    },
    close: async () => {
      await app.close();
      await setAside.close();
      await store.close();
      rules.close();
    },
  };
}
