// Assembles the hub in the direction readings flow: sources → ingest → journal → store, device
// registry and live feed → HTTP API. Each part gets only what it needs.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import { alertsRoutes } from './api/alerts.ts';
import { auditRoutes } from './api/audit.ts';
import { devicesRoutes } from './api/devices.ts';
import { floorPageRoutes } from './api/floor-page.ts';
import { registerDocs } from './api/docs.ts';
import { LiveFeed, eventsRoutes } from './api/events.ts';
import { gatewaysRoutes } from './api/gateways.ts';
import { healthRoutes, type HealthReport } from './api/health.ts';
import { metricsRoutes } from './api/metrics.ts';
import { mqttWebSocketRoute } from './api/mqtt-websocket.ts';
import { readingsRoutes } from './api/readings.ts';
import { rejectionsRoutes } from './api/rejections.ts';
import { reportsRoutes } from './api/reports.ts';
import { outageAwareReads } from './api/store-outage.ts';
import { zonesRoutes } from './api/zones.ts';
import { ms, type Config } from './config/config.ts';
import { DeviceRegistry } from './devices/registry.ts';
import { Ingest } from './ingest/ingest.ts';
import { KnownDevices } from './ingest/known-devices.ts';
import { RejectionLog } from './ingest/rejections.ts';
import { isIoError, Journal, systemClock, type JournalLog } from './journal/journal.ts';
import { SetAsideLog } from './journal/set-aside.ts';
import { startAlerting } from './notify/alerting.ts';
import { parseShifts } from './rules/exposure.ts';
import { installApiAccess } from './security/api-access.ts';
import { Revocations } from './security/revocations.ts';
import { openSiteSecurity } from './security/site.ts';
import { describeAdmission } from './sources/admission.ts';
import { startMqttSource, type MqttSource } from './sources/mqtt.ts';
import { startSerialSource } from './sources/serial.ts';
import { InfluxStore } from './store/influx.ts';
import { SqliteStore } from './store/sqlite.ts';
import { StoreUnavailable, type Store } from './store/store.ts';
import { StoreWriter } from './store/writer.ts';
import { createLog } from './telemetry/log.ts';
import { createMetrics, type Metrics } from './telemetry/metrics.ts';

export const VERSION = '0.1.0';

export interface HubOptions {
  config: Config;
  log?: Logger;
  now?: () => number;
  /** Process metrics (CPU, memory) in /metrics; off in tests that run several hubs. */
  processMetrics?: boolean;
  /** False only in benchmarks that measure what the journal's fsync costs. */
  journalFsync?: boolean;
}

export interface Hub {
  readonly httpPort: number;
  /** Plain MQTT; undefined when security.require_tls leaves only MQTTS. */
  readonly mqttPort: number | undefined;
  /** MQTTS, when security.tls is configured. */
  readonly mqttsPort: number | undefined;
  readonly url: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  health(): Promise<HealthReport>;
  stop(): Promise<void>;
}

/** How many recent journal entries seed the duplicate filter at start. */
const DUPLICATE_MEMORY_ENTRIES = 100_000;
/** At most one store write per this interval while readings keep coming; a reading after a quiet spell is written at once. */
const STORE_WRITE_INTERVAL_MS = 25;
const PRUNE_EVERY_MS = 3_600_000;
/** Above this many entries waiting for the store, health reports a backlog. */
const BACKLOG_WARNING = 10_000;
/** The rules' handler at one batch this long is stuck, not slow: admission stops waiting for it. */
const RULES_STUCK_MS = 5_000;

function createStore(config: Config): Store {
  const { influx_url: url, raw_retention, long_term_retention } = config.storage;
  // Alert history is kept as long as the long-term readings (InfluxDB's default for its policy).
  if (url) return new InfluxStore({ url, rawRetention: raw_retention, longTermRetention: long_term_retention });
  return new SqliteStore({ path: join(config.data_dir, 'readings.sqlite'), rawRetentionMs: ms(raw_retention), alertHistoryRetentionMs: ms(long_term_retention) });
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const { config } = options;
  const now = options.now ?? Date.now;
  const log = options.log ?? createLog(config);
  const metrics = createMetrics({ defaultMetrics: options.processMetrics ?? false });
  // Before anything opens: a hub that would be exposed without credentials does not start.
  const security = openSiteSecurity(config, now, metrics);
  for (const warning of security.warnings) log.warn(warning);
  mkdirSync(config.data_dir, { recursive: true });

  const journalLog: JournalLog = (level, msg, fields) => log[level](fields ?? {}, msg);
  const setAside = await SetAsideLog.open({
    path: join(config.data_dir, 'set-aside.jsonl'),
    capacity: config.storage.set_aside_kept,
    now,
    log: journalLog,
    onAdd: (record) => metrics.setAside.inc({ stage: record.stage }),
  });
  const journal = await Journal.open({
    dir: join(config.data_dir, 'journal'),
    fsync: options.journalFsync ?? true,
    log: journalLog,
    setAside,
    clock: { ...systemClock, now },
  });
  /** Journal entries the store writer has not yet written. */
  const storeBacklog = () => journal.status().consumers.find((c) => c.name === 'store')?.lag ?? 0;

  const store = createStore(config);
  const writer = new StoreWriter({ store, metrics, log, now, setAside: (refused) => setAside.refusedReadings(refused) });
  try {
    await store.init();
    log.info({ store: store.name }, `storage ready: ${store.name}`);
  } catch (err) {
    // The hub still starts: readings wait in the journal and the writer keeps trying.
    log.error({ store: store.name, err: (err as Error).message }, `storage not reachable at start (${(err as Error).message}); readings are kept in the journal until it is`);
  }

  const declared = config.devices.map((d) => ({ id: d.id, kind: d.kind, zone: d.zone, heartbeatIntervalMs: ms(d.heartbeat_interval) }));
  const registry = new DeviceRegistry(declared, join(config.data_dir, 'devices.json'));
  const feed = new LiveFeed();
  const knownDevices = new KnownDevices({
    max: config.limits.max_devices,
    configured: [...config.devices.map((d) => d.id), ...config.serial.flatMap((p) => [p.gateway, ...Object.keys(p.devices)])],
  });
  for (const id of registry.ids()) knownDevices.add(id);

  const rejections = new RejectionLog({
    capacity: config.ingest.rejections_kept,
    now,
    onReject: (r) => metrics.rejections.inc({ reason: r.reason }),
    log: (r, suppressed) =>
      log.warn(
        { device: r.device, topic: r.topic, reason: r.reason, source: r.source },
        `refused input from ${r.device ?? r.source}: ${r.detail}${suppressed > 0 ? ` (${suppressed} more refused in the last minute)` : ''}`,
      ),
  });
  const ingest = new Ingest({
    settings: {
      maxClockSkewMs: ms(config.ingest.max_clock_skew),
      maxReplayAgeMs: ms(config.ingest.max_replay_age),
      maxPayloadBytes: config.ingest.max_payload_bytes,
      maxMetricsPerDevice: config.ingest.max_metrics_per_device,
      acceptUndeclaredDevices: config.ingest.accept_undeclared_devices,
    },
    declaredZones: new Map(config.devices.map((d) => [d.id, d.zone])),
    knownDevices,
    append: (entries) => journal.append(entries),
    rejections,
    metrics,
    onClockSkew: (device, deviceTs, receivedAt) =>
      log.warn({ device }, `clock of device ${device} is off by ${Math.round((deviceTs - receivedAt) / 1000)} s; its readings are stored at the hub's receive time`),
  });
  const lastLsn = journal.status().lastLsn;
  for await (const record of journal.readAll(Math.max(1, lastLsn - DUPLICATE_MEMORY_ENTRIES + 1))) {
    ingest.remember(record.entry);
    knownDevices.remember(record.entry);
  }
  if (knownDevices.size > config.limits.max_devices) {
    log.warn({ known: knownDevices.size, max: config.limits.max_devices }, `the hub already knows ${knownDevices.size} devices, more than limits.max_devices (${config.limits.max_devices}): they stay known, and no new device is taken on`);
  }

  const consumers = [
    journal.consume('store', (entries) => writer.write(entries), {
      // Under load, fewer and larger writes: InfluxDB spends far less CPU per reading in big ones.
      minCallIntervalMs: STORE_WRITE_INTERVAL_MS,
      // An unavailable store is waited for, however long; refusals never reach the journal.
      transient: (err) => err instanceof StoreUnavailable || isIoError(err),
      onError: (err, attempt) => {
        if (attempt === 1) log.debug({ err: (err as Error).message }, 'store write failed; retrying');
      },
    }),
    journal.consume('devices', (entries) => {
      registry.apply(entries);
      registry.save(now());
    }),
    journal.consume('live', (entries) => feed.publish(entries), { from: 'end', durable: false }),
  ];

  const prune = async () => {
    try {
      const removed = await store.prune?.(now());
      if (removed && removed.readings > 0) log.info({ removed: removed.readings }, `removed ${removed.readings} readings older than the raw retention (${config.storage.raw_retention})`);
      if (removed && removed.alertEvents > 0) log.info({ removed: removed.alertEvents }, `removed ${removed.alertEvents} alert history entries older than the long-term retention (${config.storage.long_term_retention})`);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not remove expired readings and alert history; will try again in an hour');
    }
  };
  const pruneTimer = store.prune ? setInterval(prune, PRUNE_EVERY_MS).unref() : undefined;

  const revocations = new Revocations({ credentials: security.credentials, tokens: security.tokens, log, metrics, audit: security.audit.record });
  revocations.watch();
  // Admission waits for rules that are slow, not for rules that are stuck (a batch failing, or one
  // taking seconds): readings are still journaled and stored meanwhile, and health shows the lag.
  const rulesPace = () => (journal.stuck('rules', RULES_STUCK_MS) ? 0 : journal.behindMs('rules'));
  let mqtt: MqttSource;
  try {
    const tls = config.security.tls && security.tls && { port: config.security.tls.mqtt_port, ...security.tls };
    mqtt = await startMqttSource({ host: config.bind, port: config.security.require_tls ? undefined : config.mqtt.port, prefix: config.mqtt.topic_prefix, ingest, log, metrics, now, login: security.login, revocations, limits: security.brokerLimits, admission: { maxPendingBytes: config.limits.max_pending_bytes, maxDelayMs: ms(config.limits.max_ingest_delay), maxRulesBehindMs: ms(config.rules.max_behind), rulesBehindMs: rulesPace }, ...(tls && { tls }) });
  } catch (err) {
    revocations.stop();
    await Promise.all(consumers.map((c) => c.stop()));
    await journal.close();
    await setAside.close();
    await store.close();
    throw err;
  }

  const serial = startSerialSource({ ports: config.serial, prefix: config.mqtt.topic_prefix, ingest, publish: mqtt.publish, log, metrics, now });

  const alerting = startAlerting({
    config,
    journal,
    store,
    setAside,
    publish: mqtt.publish,
    feed,
    log,
    now,
    hubStatus: () => {
      const status = journal.status();
      return {
        storeName: store.name,
        storeOk: writer.state.ok,
        ...(writer.state.downSince !== undefined && { storeDownSince: writer.state.downSince }),
        ...(writer.state.lastError !== undefined && { storeError: writer.state.lastError }),
        storeRefused: writer.state.refused,
        ...(writer.state.lastRefusalAt !== undefined && { storeLastRefusalAt: writer.state.lastRefusalAt }),
        ...(writer.state.lastRefusal !== undefined && { storeLastRefusal: writer.state.lastRefusal }),
        backlog: storeBacklog(),
        journalWritable: status.writable,
        ...(status.lastError !== undefined && { journalError: status.lastError }),
      };
    },
  });

  const health = async (): Promise<HealthReport> => {
    const journalStatus = journal.status();
    const storeHealth = await store.health();
    const storeLag = storeBacklog();
    const storeOk = storeHealth.ok && writer.state.ok;
    const devices = knownDevices.status();
    const admission = mqtt.admission();
    const overload = describeAdmission(admission);
    const checks: HealthReport['checks'] = {
      broker: {
        ok: overload === undefined,
        detail: `${mqtt.connectedClients()} MQTT clients connected${overload === undefined ? '' : `; ${overload}`}`,
        clients: mqtt.connectedClients(),
        port: mqtt.port,
        admission,
      },
      store: {
        ok: storeOk,
        detail: storeOk ? `${store.name}: ${storeHealth.detail}` : `${store.name} down: ${writer.state.lastError ?? storeHealth.detail}`,
        backend: store.name,
        ...(writer.state.downSince !== undefined && { downSince: writer.state.downSince }),
        ...(writer.state.lastWriteAt !== undefined && { lastWriteAt: writer.state.lastWriteAt }),
        refused: writer.state.refused,
        ...(writer.state.lastRefusalAt !== undefined && { lastRefusalAt: writer.state.lastRefusalAt, lastRefusal: writer.state.lastRefusal }),
      },
      journal: {
        ok: journalStatus.writable,
        detail: journalStatus.writable
          ? `${storeLag} entries waiting for the store`
          : `cannot write to disk (${journalStatus.lastError ?? 'unknown error'}): new readings are not acknowledged`,
        backlog: storeLag,
        durableLsn: journalStatus.durableLsn,
        consumers: journalStatus.consumers,
        segments: journalStatus.segments,
        bytes: journalStatus.bytes,
      },
      devices: {
        ok: devices.refused === 0,
        detail:
          devices.refused === 0
            ? `${devices.known} devices known; limits.max_devices is ${devices.max}`
            : `${devices.known} devices known, the most limits.max_devices allows (${devices.max}): ${devices.refused} messages from further devices refused`,
        ...devices,
      },
    };
    const down = !journalStatus.writable || !storeOk;
    const refusing = writer.state.lastRefusalAt !== undefined && now() - writer.state.lastRefusalAt < ms(config.rules.storage_rejecting_clears_after);
    return { status: down ? 'down' : storeLag > BACKLOG_WARNING || refusing || devices.refused > 0 || overload !== undefined ? 'degraded' : 'ok', checks };
  };

  const refreshGauges = () => {
    const status = journal.status();
    metrics.journalWritable.set(status.writable ? 1 : 0);
    metrics.knownDevices.set(knownDevices.size);
    const admission = mqtt.admission();
    metrics.mqttPendingBytes.set(admission.pendingBytes);
    metrics.mqttOverloaded.set(admission.overloaded ? 1 : 0);
    for (const c of status.consumers) {
      metrics.journalLag.set({ consumer: c.name }, c.lag);
      if (c.behindMs !== undefined) metrics.journalBehind.set({ consumer: c.name }, c.behindMs / 1000);
    }
  };

  const app = Fastify({ loggerInstance: log.child({ part: 'api' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), forceCloseConnections: true, https: security.tls ?? null });
  installApiAccess(app, {
    tokens: security.tokens,
    writers: security.writers,
    allowAnonymous: config.security.allow_anonymous,
    allowedOrigins: config.http.allowed_origins,
    requestsPerMinute: config.limits.api_requests_per_minute,
    now,
    https: security.tls !== undefined,
    log,
    metrics,
  });
  await registerDocs(app, VERSION);
  await app.register(healthRoutes, { health });
  await app.register(metricsRoutes, { metrics, refresh: refreshGauges });
  await app.register(devicesRoutes, { registry, now });
  // The API reads the store through this, so an outage is a 503 that says what waits, not a raw error.
  const reads = outageAwareReads({ store, backlog: storeBacklog });
  await app.register(readingsRoutes, { store: reads, ingest, writers: security.writers, maxPayloadBytes: config.ingest.max_payload_bytes, now });
  await app.register(rejectionsRoutes, { rejections, setAside });
  await app.register(auditRoutes, { audit: security.audit });
  await app.register(gatewaysRoutes, { gateways: serial.gateways });
  await app.register(eventsRoutes, { feed, revocations });
  await app.register(alertsRoutes, { ...alerting.routes, audit: security.audit.record });
  await app.register(zonesRoutes, { site: config.site.name, store: reads, rules: alerting.routes.rules, engine: alerting.routes.engine, devices: (at) => registry.counts(at), now });
  await app.register(floorPageRoutes);
  await app.register(reportsRoutes, { store: reads, rules: alerting.rules, shifts: parseShifts(config.rules.shifts), devices: (at) => registry.list(at), now });
  await app.register(mqttWebSocketRoute, { mqtt, maxPacketBytes: security.brokerLimits.maxPacketBytes });
  try {
    await app.listen({ host: config.bind, port: config.http.port });
  } catch (err) {
    revocations.stop();
    await serial.close();
    await mqtt.close();
    await alerting.stop();
    await Promise.all(consumers.map((c) => c.stop()));
    await journal.close();
    await setAside.close();
    await store.close();
    throw err;
  }
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.http.port;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info('hub stopping: no new connections; flushing the journal');
      revocations.stop();
      clearInterval(pruneTimer);
      await mqtt.stopAccepting();
      await serial.close();
      await app.close();
      // Before the broker closes, so alert messages can still be published.
      await alerting.stop();
      await mqtt.close();
      await journal.close();
      await setAside.close();
      try {
        registry.save(now(), true);
      } catch (err) {
        log.error({ err: (err as Error).message }, `could not save the device list (${(err as Error).message}); it is rebuilt from new messages`);
      }
      await store.close();
      log.info('hub stopped');
    })();
    return stopping;
  };

  return {
    httpPort,
    mqttPort: mqtt.port,
    mqttsPort: mqtt.tlsPort,
    url: `${security.tls ? 'https' : 'http'}://${config.bind.includes(':') ? `[${config.bind}]` : config.bind}:${httpPort}`,
    log,
    metrics,
    health,
    stop,
  };
}
