// The broker and the sources that feed ingest: MQTT devices (TCP, MQTTS, WebSocket) and serial
// gateways, with the credentials that may be withdrawn while clients are connected.
import { openBrokerState, type BrokerState } from '../cluster/broker-state.ts';
import { nodeId } from '../config/cluster.ts';
import { ms, type Config } from '../config/config.ts';
import { describeAdmission } from '../broker/admission-status.ts';
import { startBroker, type Broker, type BrokerSettings } from '../broker/broker.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { Journal } from '../journal/journal.ts';
import { Revocations } from '../security/revocations.ts';
import { brokerLimitsOf, type SiteSecurity } from './security.ts';
import { mqttReadings } from '../sources/mqtt.ts';
import { startSerialSource, type SerialSource } from '../sources/serial.ts';
import type { HubContext } from './context.ts';

export interface Mqtt {
  broker: Broker;
  serial: SerialSource;
  revocations: Revocations;
}

/** The rules' handler at one batch this long is stuck, not slow: admission stops waiting for it. */
const RULES_STUCK_MS = 5_000;

/** In a cluster, the broker's bus and persistence in Redis; stopped after the broker, which uses them. */
async function openSharedState(ctx: HubContext): Promise<BrokerState | undefined> {
  const { config, log, metrics, lifecycle, now } = ctx;
  const { redis_url: url } = config.cluster;
  if (url === undefined) return undefined;
  const node = nodeId(config.cluster);
  const state = await openBrokerState({
    url,
    node,
    prefix: config.cluster.prefix,
    maxWaiting: config.cluster.max_waiting_messages,
    log,
    now,
    onNotSent: () => metrics.clusterNotSent.inc(),
  });
  log.info({ node }, `cluster node ${node}: broker state shared through Redis at ${url}`);
  lifecycle.add({ name: 'cluster broker state', stop: () => state.close() });
  return state;
}

/** How much the hub takes in while overloaded, under a configuration. */
function admissionBounds(config: Config): BrokerSettings['admission'] {
  return {
    maxPendingBytes: config.limits.max_pending_bytes,
    maxDelayMs: ms(config.limits.max_ingest_delay),
    maxRulesBehindMs: ms(config.rules.max_behind),
  };
}

export async function openMqtt(
  ctx: HubContext,
  deps: { security: SiteSecurity; ingest: Ingest; journal: Journal },
): Promise<Mqtt> {
  const { config, log, metrics, now, lifecycle } = ctx;
  const { security, ingest, journal } = deps;
  const revocations = new Revocations({
    credentials: security.credentials,
    tokens: security.tokens,
    log,
    metrics,
    audit: security.audit.record,
  });
  revocations.watch();
  lifecycle.add({ name: 'credential watch', stop: () => revocations.stop() });

  // Admission waits for rules that are slow, not for rules that are stuck (a batch failing, or one
  // taking seconds): readings are still journaled and stored meanwhile, and health shows the lag.
  // In a cluster the rules read what this hub forwards: forwarding is what must keep up.
  const rules = config.cluster.redis_url === undefined ? 'rules' : 'cluster';
  const rulesBehindMs = () => (journal.stuck(rules, RULES_STUCK_MS) ? 0 : journal.behindMs(rules));
  const readings = mqttReadings({ ingest, log, now });
  const shared = await openSharedState(ctx);
  const tls = config.security.tls && security.tls && { port: config.security.tls.mqtt_port, ...security.tls };
  const broker = await startBroker({
    host: config.bind,
    ...(!config.security.require_tls && { port: config.mqtt.port }),
    prefix: config.mqtt.topic_prefix,
    topicRules: config.security.topic_rules,
    take: readings.take,
    ...(shared && { shared: { ...shared, heartbeatMs: ms(config.cluster.broker_heartbeat) } }),
    log,
    metrics,
    now,
    login: security.login,
    revocations,
    limits: security.brokerLimits,
    admission: { ...admissionBounds(config), rulesBehindMs },
    ...(tls && { tls }),
  });
  lifecycle.add({
    name: 'broker',
    stop: async () => {
      readings.stop();
      await broker.close();
    },
    health: () => {
      const admission = broker.admission();
      const overload = describeAdmission(admission);
      return {
        condition: overload === undefined ? 'ok' : 'degraded',
        check: {
          ok: overload === undefined,
          detail: `${broker.connectedClients()} MQTT clients connected${overload === undefined ? '' : `; ${overload}`}`,
          clients: broker.connectedClients(),
          port: broker.port,
          admission,
        },
      };
    },
    reconfigure: (next) => {
      const settings = {
        limits: brokerLimitsOf(next),
        topicRules: next.security.topic_rules,
        admission: admissionBounds(next),
      };
      return () => broker.reconfigure(settings);
    },
    refreshGauges: () => {
      const admission = broker.admission();
      metrics.mqttPendingBytes.set(admission.pendingBytes);
      metrics.mqttOverloaded.set(admission.overloaded ? 1 : 0);
    },
  });

  const serial = startSerialSource({
    ports: config.serial,
    prefix: config.mqtt.topic_prefix,
    ingest,
    publish: broker.publish,
    log,
    metrics,
    now,
  });
  lifecycle.add({ name: 'serial gateways', stop: () => serial.close() });
  return { broker, serial, revocations };
}
