// The HTTP side: the API (behind the access check), the floor page, /docs, /metrics, and MQTT over
// WebSocket, on one Fastify server.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { alertsRoutes, type AlertsRoutesOptions } from '../api/alerts.ts';
import { auditRoutes, type AuditRoutesOptions } from '../api/audit.ts';
import { configRoutes, type ConfigRoutesOptions } from '../api/config.ts';
import { devicesRoutes, type DevicesRoutesOptions } from '../api/devices.ts';
import { registerDocs } from '../api/docs.ts';
import { eventsRoutes, type EventsRoutesOptions } from '../api/events.ts';
import { floorPageRoutes } from '../api/floor-page.ts';
import { gatewaysRoutes, type GatewaysRoutesOptions } from '../api/gateways.ts';
import { healthRoutes, type HealthRoutesOptions } from '../api/health.ts';
import { layoutRoutes, readFloorPlan, type LayoutRoutesOptions } from '../api/layout.ts';
import { metricsRoutes, type MetricsRoutesOptions } from '../api/metrics.ts';
import { mqttWebSocketRoute } from '../api/mqtt-websocket.ts';
import { readingsRoutes, type ReadingsRoutesOptions } from '../api/readings.ts';
import { rejectionsRoutes, type RejectionsRoutesOptions } from '../api/rejections.ts';
import { reportsRoutes, type ReportsRoutesOptions } from '../api/reports.ts';
import { useZodSchemas } from '../api/schemas.ts';
import { outageAwareReads } from '../api/store-outage.ts';
import { AHEAD_MAX, boundUnreadAnswers } from '../api/unread-answers.ts';
import { zonesRoutes, type ZonesRoutesOptions } from '../api/zones.ts';
import type { Alerting } from './alerting.ts';
import type { ConfigReload } from './reload.ts';
import { ms } from '../config/config.ts';
import { parseShifts } from '../rules/exposure.ts';
import { installApiAccess } from '../security/api-access.ts';
import type { SiteSecurity } from './security.ts';
import type { HubContext } from './context.ts';
import type { Intake } from './intake.ts';
import type { Mqtt } from './mqtt.ts';
import type { Storage } from './storage.ts';
import { NoticeLog } from '../telemetry/notices.ts';

export const VERSION = '0.1.0';

export interface Api {
  port: number;
  url: string;
}

/** What the API's routes read and act on, as each plugin takes it: the hub's own parts, or a test's in memory. */
export interface ApiParts {
  health: HealthRoutesOptions;
  metrics: MetricsRoutesOptions;
  devices: DevicesRoutesOptions;
  readings: ReadingsRoutesOptions;
  rejections: RejectionsRoutesOptions;
  audit: AuditRoutesOptions;
  config: ConfigRoutesOptions;
  gateways: GatewaysRoutesOptions;
  events: EventsRoutesOptions;
  alerts: AlertsRoutesOptions;
  zones: ZonesRoutesOptions;
  layout: LayoutRoutesOptions;
  reports: ReportsRoutesOptions;
}

/**
 * Every route of the API, its schemas and /docs: one list for the hub and for the tests of the
 * routes on parts in memory (tests/support/api.ts), so a route added here is served by both.
 */
export async function registerApi(app: FastifyInstance, version: string, parts: ApiParts): Promise<void> {
  useZodSchemas(app);
  await registerDocs(app, version);
  await app.register(healthRoutes, parts.health);
  await app.register(metricsRoutes, parts.metrics);
  await app.register(devicesRoutes, parts.devices);
  await app.register(readingsRoutes, parts.readings);
  await app.register(rejectionsRoutes, parts.rejections);
  await app.register(auditRoutes, parts.audit);
  await app.register(configRoutes, parts.config);
  await app.register(gatewaysRoutes, parts.gateways);
  await app.register(eventsRoutes, parts.events);
  await app.register(alertsRoutes, parts.alerts);
  await app.register(zonesRoutes, parts.zones);
  await app.register(layoutRoutes, parts.layout);
  await app.register(reportsRoutes, parts.reports);
}

export async function openApi(
  ctx: HubContext,
  parts: {
    security: SiteSecurity;
    storage: Storage;
    intake: Intake;
    mqtt: Mqtt;
    alerting: Alerting;
    configReload: ConfigReload;
  },
): Promise<Api> {
  const { config, log, metrics, now, lifecycle } = ctx;
  const { security, storage, intake, mqtt, alerting, configReload } = parts;
  const { registry } = intake;
  const apiLog: FastifyBaseLogger = log.child({ part: 'api' });
  // Node's limit on receiving a request, which Fastify turns off: without it a client that sends
  // its headers and then a byte a minute, or nothing, holds its socket and body so far for good.
  const requestTimeout = ms(config.limits.http_request_timeout);
  const app = Fastify({
    loggerInstance: apiLog,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    requestTimeout,
    https: security.tls ?? null,
  });
  // Node keeps to it only with a headers limit no longer than it, and looks for requests past it
  // this often (30 s unless told) from when it listens.
  Object.assign(app.server, {
    headersTimeout: Math.min(app.server.headersTimeout, requestTimeout),
    connectionsCheckingInterval: Math.min(requestTimeout, 5000),
  });
  const unreadNotices = new NoticeLog(apiLog, now);
  const unread = boundUnreadAnswers(app, {
    maxBytes: config.limits.http_unread_bytes,
    timeoutMs: ms(config.limits.http_answer_timeout),
    onClosed: (why, address) => {
      metrics.httpUnreadClosed.inc({ reason: why });
      const from = address ?? 'an unknown address';
      unreadNotices.once(
        `${why} ${from}`,
        why === 'unread'
          ? `closed an HTTP connection from ${from}: its answer was not taken within limits.http_answer_timeout (${config.limits.http_answer_timeout})`
          : `closed an HTTP connection from ${from}: it sent more than ${AHEAD_MAX} requests ahead of their answers`,
      );
    },
    onRefused: (bytes, waiting, address) => {
      metrics.httpUnreadRefused.inc();
      unreadNotices.once(
        'refused',
        `refused an answer of ${bytes} bytes to ${address ?? 'an unknown address'}: ${waiting} bytes of answers already wait for clients to read them (limits.http_unread_bytes, ${config.limits.http_unread_bytes})`,
      );
    },
  });
  let shifts = parseShifts(config.rules.shifts);
  let plan = readFloorPlan(config.layout, apiLog);
  lifecycle.add({
    name: 'api',
    stop: () => app.close(),
    refreshGauges: () => metrics.httpUnreadBytes.set(unread.waitingBytes()),
    reconfigure: (next) => {
      const nextShifts = parseShifts(next.rules.shifts);
      const nextPlan = readFloorPlan(next.layout, apiLog);
      return () => {
        shifts = nextShifts;
        plan = nextPlan;
      };
    },
  });
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
  // The API reads the store through this, so an outage is a 503 that says what waits, not a raw error.
  const reads = outageAwareReads({ store: storage.store, backlog: storage.storeBacklog });
  await registerApi(app, VERSION, {
    health: { health: () => lifecycle.health() },
    metrics: { metrics, refresh: () => lifecycle.refreshGauges() },
    devices: {
      registry,
      forget: intake.forget,
      credentials: security.credentials,
      calibration: intake.calibration,
      audit: security.audit.record,
      now,
    },
    readings: {
      store: reads,
      ingest: intake.ingest,
      writers: security.writers,
      maxPayloadBytes: config.ingest.max_payload_bytes,
      now,
    },
    rejections: { rejections: intake.rejections, setAside: storage.setAside },
    audit: { audit: security.audit },
    config: { reload: (by) => configReload.reload(by) },
    gateways: { gateways: mqtt.serial.gateways },
    events: {
      feed: intake.feed,
      revocations: mqtt.revocations,
      maxStreams: config.limits.max_event_streams,
      maxStreamsPerToken: config.limits.max_event_streams_per_token,
      metrics,
      now,
    },
    alerts: { ...alerting.routes, audit: security.audit.record },
    zones: {
      site: config.site.name,
      store: reads,
      rules: alerting.routes.rules,
      engine: alerting.routes.engine,
      devices: (at) => registry.counts(at),
      now,
    },
    layout: { plan: () => plan, devicesAt: (positions, at) => registry.atPositions(positions, at), now },
    reports: {
      store: reads,
      rules: alerting.rules,
      shifts: () => shifts,
      devices: (at) => registry.list(at),
      atOnce: config.limits.reports_at_once,
      waiting: config.limits.reports_waiting,
      rawRetentionMs: ms(config.storage.raw_retention),
      now,
    },
  });
  await app.register(floorPageRoutes);
  await app.register(mqttWebSocketRoute, { broker: mqtt.broker, maxPacketBytes: security.brokerLimits.maxPacketBytes });
  await app.listen({ host: config.bind, port: config.http.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const host = config.bind.includes(':') ? `[${config.bind}]` : config.bind;
  return { port, url: `${security.tls ? 'https' : 'http'}://${host}:${port}` };
}
