// Assembles the hub in the direction readings flow: journal and store, then ingest and what
// follows the journal, the broker and the sources that feed ingest, the rules and notifications,
// and the HTTP API last. Each part lands on one lifecycle (compose/lifecycle.ts), which stops them
// in reverse and puts their health checks together.
// First, before anything loads Aedes or mqtt.js: see the module.
import './broker/quiet-debug.ts';
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HealthReport } from './api/health.ts';
import { openApi } from './compose/api.ts';
import { openIntake } from './compose/intake.ts';
import { Lifecycle } from './compose/lifecycle.ts';
import { openMqtt } from './compose/mqtt.ts';
import { openStorage } from './compose/storage.ts';
import { ConfigError, type Config } from './config/config.ts';
import { openConfigReload } from './compose/reload.ts';
import type { ReloadAnswer } from './config/changes.ts';
import { startAlerting, type Alerting, type AlertingOptions } from './compose/alerting.ts';
import type { Ticker } from './compose/ticker.ts';
import { startClusterAlerting } from './compose/cluster.ts';
import type { Timers } from './domain/timers.ts';
import { openBridges } from './compose/bridges.ts';
import { startDiscovery } from './compose/discovery.ts';
import { nodeId } from './config/cluster.ts';
import { openSiteSecurity } from './compose/security.ts';
import { createLog } from './telemetry/log.ts';
import { createMetrics, type Metrics } from './telemetry/metrics.ts';

export interface HubOptions {
  config: Config;
  log?: Logger;
  now?: () => number;
  /** Runs the rules' clock tick and the minutes' roll-up; with `now`, a test on simulated time ticks on it too. */
  ticker?: Ticker;
  /** The notifications' waits (grouping, retries); with `now`, on simulated time too. */
  timers?: Timers;
  /** Process metrics (CPU, memory) in /metrics; off in tests that run several hubs. */
  processMetrics?: boolean;
  /** False only in benchmarks that measure what the journal's fsync costs. */
  journalFsync?: boolean;
  /** Reads the configuration again for a reload (SIGHUP, the API); without it a reload is refused. */
  readConfig?: () => Config;
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
  /** Reads the configuration again and takes on what it can (`by`: who asked, for the audit log). */
  reloadConfig(by: string): ReloadAnswer;
  stop(): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const { config } = options;
  const now = options.now ?? Date.now;
  const metrics = createMetrics({ defaultMetrics: options.processMetrics ?? false });
  const log =
    options.log ??
    createLog({
      level: config.log_level,
      format: config.log_format,
      site: config.site.name,
      maxWaitingBytes: config.log_max_waiting_bytes,
      onDropped: () => metrics.logLinesDropped.inc(),
    });
  // In a cluster every series says which hub it is from, so one Prometheus can scrape them all.
  if (config.cluster.redis_url !== undefined) metrics.registry.setDefaultLabels({ node: nodeId(config.cluster) });
  // Before anything opens: a hub that would be exposed without credentials does not start.
  const security = openSiteSecurity(config, now, metrics);
  for (const warning of security.warnings) log.warn(warning);
  mkdirSync(config.data_dir, { recursive: true });

  const lifecycle = new Lifecycle(log);
  const ctx = { config, log, metrics, now, lifecycle };
  try {
    lifecycle.add({
      name: 'declared devices',
      reconfigure: (next) => () => security.declare(next.devices.map((d) => d.id)),
    });
    const storage = await openStorage(ctx, {
      fsync: options.journalFsync ?? true,
      ...(options.ticker && { ticker: options.ticker }),
    });
    const { journal, store, writer, setAside } = storage;
    const intake = await openIntake(ctx, journal);
    const mqtt = await openMqtt(ctx, { security, ingest: intake.ingest, journal });
    const bridges = openBridges(ctx, {
      ingest: intake.ingest,
      journal,
      maxPacketBytes: security.brokerLimits.maxPacketBytes,
    });
    const alertingOptions: AlertingOptions = {
      config,
      journal,
      store,
      setAside,
      publish: mqtt.broker.publish,
      feed: intake.feed,
      log,
      now,
      ...(options.ticker && { ticker: options.ticker }),
      ...(options.timers && { timers: options.timers }),
      bridges,
      notificationsDropped: (target, count) => metrics.notificationsDropped.inc({ target }, count),
      hubStatus: () => {
        const status = journal.status();
        const { state } = writer;
        const unanswered = writer.unansweredFor();
        return {
          storeName: store.name,
          storeOk: state.ok,
          ...(state.downSince !== undefined && { storeDownSince: state.downSince }),
          ...(state.lastError !== undefined && { storeError: state.lastError }),
          ...(unanswered !== undefined && { storeUnansweredForMs: unanswered }),
          storeRefused: state.refused,
          ...(state.lastRefusalAt !== undefined && { storeLastRefusalAt: state.lastRefusalAt }),
          ...(state.lastRefusal !== undefined && { storeLastRefusal: state.lastRefusal }),
          backlog: storage.storeBacklog(),
          journalWritable: status.writable,
          ...(status.lastError !== undefined && { journalError: status.lastError }),
        };
      },
    };
    // Stopped before the broker, so alert messages can still be published.
    const { redis_url: clusterUrl } = config.cluster;
    let alerting: Alerting;
    if (clusterUrl === undefined) {
      const alone = startAlerting(alertingOptions);
      alerting = alone;
      lifecycle.add({
        name: 'alerting',
        stop: () => alone.stop(),
        ...(alone.reconfigure && { reconfigure: alone.reconfigure }),
      });
    } else {
      const cluster = await startClusterAlerting(alertingOptions, {
        url: clusterUrl,
        peerEntries: { known: intake.known, live: (entries) => intake.feed.publish(entries) },
        entryPassedOver: () => metrics.clusterEntriesPassedOver.inc(),
        notForwarded: (count) => metrics.clusterNotForwarded.inc(count),
      });
      alerting = cluster;
      lifecycle.add({ name: 'cluster', stop: () => cluster.stop(), health: () => cluster.health() });
    }
    startDiscovery(ctx, {
      journal,
      publish: mqtt.broker.publish,
      bridges,
      rules: alerting.rules,
      alerts: alerting.routes.engine,
    });
    const { readConfig } = options;
    const configReload = openConfigReload(ctx, {
      read:
        readConfig ??
        (() => {
          throw new ConfigError(['this hub was started without a configuration to read again; restart it instead']);
        }),
      audit: security.audit.record,
      publish: mqtt.broker.publish,
    });
    const api = await openApi(ctx, { security, storage, intake, mqtt, alerting, configReload });
    for (const name of await journal.forgetIdle())
      log.warn(
        { consumer: name },
        `the journal no longer keeps entries for "${name}": this configuration does not run it (a bridge removed or renamed, the rules of a hub that joined a cluster, or the forwarding of one that left it)`,
      );
    // Stopped first: no new MQTT connections while the rest stops.
    lifecycle.add({ name: 'new MQTT connections', stop: () => mqtt.broker.stopAccepting() });

    let stopping: Promise<void> | undefined;
    return {
      httpPort: api.port,
      mqttPort: mqtt.broker.port,
      mqttsPort: mqtt.broker.tlsPort,
      url: api.url,
      log,
      metrics,
      health: () => lifecycle.health(),
      reloadConfig: (by) => configReload.reload(by),
      stop: () =>
        (stopping ??= (async () => {
          log.info('hub stopping: no new connections; flushing the journal');
          await lifecycle.stop();
          log.info('hub stopped');
        })()),
    };
  } catch (err) {
    await lifecycle.stop();
    throw err;
  }
}
