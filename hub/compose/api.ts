// The HTTP side: the API (behind the access check), the floor page, /docs, /metrics, and MQTT over
// WebSocket, on one Fastify server.
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { alertsRoutes } from '../api/alerts.ts';
import { auditRoutes } from '../api/audit.ts';
import { configRoutes } from '../api/config.ts';
import { devicesRoutes } from '../api/devices.ts';
import { registerDocs } from '../api/docs.ts';
import { eventsRoutes } from '../api/events.ts';
import { floorPageRoutes } from '../api/floor-page.ts';
import { gatewaysRoutes } from '../api/gateways.ts';
import { healthRoutes } from '../api/health.ts';
import { layoutRoutes, readFloorPlan } from '../api/layout.ts';
import { metricsRoutes } from '../api/metrics.ts';
import { mqttWebSocketRoute } from '../api/mqtt-websocket.ts';
import { readingsRoutes } from '../api/readings.ts';
import { rejectionsRoutes } from '../api/rejections.ts';
import { reportsRoutes } from '../api/reports.ts';
import { useZodSchemas } from '../api/schemas.ts';
import { outageAwareReads } from '../api/store-outage.ts';
import { zonesRoutes } from '../api/zones.ts';
import type { Alerting } from './alerting.ts';
import type { ConfigReload } from './reload.ts';
import { parseShifts } from '../rules/exposure.ts';
import { installApiAccess } from '../security/api-access.ts';
import type { SiteSecurity } from './security.ts';
import type { HubContext } from './context.ts';
import type { Intake } from './intake.ts';
import type { Mqtt } from './mqtt.ts';
import type { Storage } from './storage.ts';

export const VERSION = '0.1.0';

export interface Api {
  port: number;
  url: string;
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
  const app = Fastify({
    loggerInstance: apiLog,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    https: security.tls ?? null,
  });
  let shifts = parseShifts(config.rules.shifts);
  let plan = readFloorPlan(config.layout, apiLog);
  lifecycle.add({
    name: 'api',
    stop: () => app.close(),
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
  useZodSchemas(app);
  await registerDocs(app, VERSION);
  await app.register(healthRoutes, { health: () => lifecycle.health() });
  await app.register(metricsRoutes, { metrics, refresh: () => lifecycle.refreshGauges() });
  await app.register(devicesRoutes, {
    registry,
    forget: intake.forget,
    calibration: intake.calibration,
    audit: security.audit.record,
    now,
  });
  // The API reads the store through this, so an outage is a 503 that says what waits, not a raw error.
  const reads = outageAwareReads({ store: storage.store, backlog: storage.storeBacklog });
  await app.register(readingsRoutes, {
    store: reads,
    ingest: intake.ingest,
    writers: security.writers,
    maxPayloadBytes: config.ingest.max_payload_bytes,
    now,
  });
  await app.register(rejectionsRoutes, { rejections: intake.rejections, setAside: storage.setAside });
  await app.register(auditRoutes, { audit: security.audit });
  await app.register(configRoutes, { reload: (by) => configReload.reload(by) });
  await app.register(gatewaysRoutes, { gateways: mqtt.serial.gateways });
  await app.register(eventsRoutes, {
    feed: intake.feed,
    revocations: mqtt.revocations,
    maxStreams: config.limits.max_event_streams,
    maxStreamsPerToken: config.limits.max_event_streams_per_token,
    metrics,
    now,
  });
  await app.register(alertsRoutes, { ...alerting.routes, audit: security.audit.record });
  await app.register(zonesRoutes, {
    site: config.site.name,
    store: reads,
    rules: alerting.routes.rules,
    engine: alerting.routes.engine,
    devices: (at) => registry.counts(at),
    now,
  });
  await app.register(layoutRoutes, {
    plan: () => plan,
    devicesAt: (positions, at) => registry.atPositions(positions, at),
    now,
  });
  await app.register(floorPageRoutes);
  await app.register(reportsRoutes, {
    store: reads,
    rules: alerting.rules,
    shifts: () => shifts,
    devices: (at) => registry.list(at),
    now,
  });
  await app.register(mqttWebSocketRoute, { broker: mqtt.broker, maxPacketBytes: security.brokerLimits.maxPacketBytes });
  await app.listen({ host: config.bind, port: config.http.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const host = config.bind.includes(':') ? `[${config.bind}]` : config.bind;
  return { port, url: `${security.tls ? 'https' : 'http'}://${host}:${port}` };
}
