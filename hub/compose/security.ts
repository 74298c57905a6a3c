// The site's security settings put together at start: credentials, tokens, audit log, TLS files,
// and the verdict on whether the hub may listen where it is told to.
import { ms, type Config } from '../config/config.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { AuditLog } from '../security/audit.ts';
import type { BrokerLimits } from '../security/broker-guard.ts';
import { DeviceCredentials } from '../security/credentials.ts';
import { exposureWarnings } from '../security/exposure.ts';
import { startVerdict, type TlsFiles } from '../security/start-verdict.ts';
import { MqttLogin } from '../security/mqtt-login.ts';
import { ReadingWriters } from '../security/reading-writers.ts';
import { PasswordChecks } from '../security/password-checks.ts';
import { ApiTokens } from '../security/tokens.ts';
import type { SubscriptionLimits } from '../broker/subscriptions.ts';

export interface SiteSecurity {
  credentials: DeviceCredentials;
  tokens: ApiTokens;
  audit: AuditLog;
  login: MqttLogin;
  /** Who may write readings over HTTP, and for which devices. */
  writers: ReadingWriters;
  tls: TlsFiles | undefined;
  brokerLimits: BrokerLimits & SubscriptionLimits & { connectTimeoutMs: number; maxConnectingPerAddress: number };
  /** What the log says at every start. */
  warnings: string[];
  /** The devices a reloaded configuration names: they may log in as any declared device does. */
  declare(devices: Iterable<string>): void;
}

/** Room in an MQTT packet for its topic and headers, beside the largest payload ingest accepts. */
const PACKET_OVERHEAD_BYTES = 1024;

/** The broker's limits under a configuration. */
export function brokerLimitsOf(config: Config): SiteSecurity['brokerLimits'] {
  const { limits } = config;
  const { login_failures: failures } = config.security;
  return {
    maxConnections: limits.max_connections,
    maxConnectionsPerCredential: limits.max_connections_per_credential,
    loginFailures: {
      max: failures.max,
      withinMs: ms(failures.within),
      lockoutMs: ms(failures.lockout),
      trackedSources: failures.tracked_addresses,
    },
    maxPacketBytes: limits.max_packet_bytes ?? config.ingest.max_payload_bytes + PACKET_OVERHEAD_BYTES,
    maxRetainedBytes: limits.max_retained_bytes,
    maxQueuedMessages: limits.max_queued_messages,
    maxQueuedBytes: limits.max_queued_bytes,
    maxOfflineMessages: limits.max_offline_messages,
    maxPersistentSessions: limits.max_persistent_sessions,
    maxSubscriptionsPerClient: limits.max_subscriptions_per_client,
    maxSubscriptions: limits.max_subscriptions,
    messagesPerSecond: limits.messages_per_second,
    messageBurst: limits.message_burst,
    rateGraceMs: ms(limits.rate_grace),
    maxInflight: limits.max_inflight,
    maxKeepaliveS: Math.max(1, Math.round(ms(limits.max_keepalive) / 1000)),
    connectTimeoutMs: ms(limits.connect_timeout),
    maxConnectingPerAddress: limits.max_connecting_per_address,
  };
}

/** Throws SecurityRefusal when the hub must not start as configured. */
export function openSiteSecurity(config: Config, now: () => number, metrics: Metrics): SiteSecurity {
  const credentials = new DeviceCredentials(config.data_dir);
  const tokens = new ApiTokens(config.data_dir);
  const { tls, exposure } = startVerdict(config, credentials, tokens);
  const { limits } = config;
  // A device that reconnects was connected a moment ago, so remembering as many as may be connected at once covers them.
  const passwords = new PasswordChecks({
    credentials,
    atOnce: limits.password_checks_at_once,
    waiting: limits.password_checks_waiting,
    remember: limits.max_connections,
    onCheck: (how) => metrics.mqttPasswordChecks.inc({ how }),
  });
  const declaredDevices = new Set(config.devices.map((d) => d.id));
  return {
    credentials,
    tokens,
    audit: new AuditLog(config.data_dir, now),
    declare: (devices) => {
      declaredDevices.clear();
      for (const id of devices) declaredDevices.add(id);
    },
    login: new MqttLogin({
      credentials,
      passwords,
      tokens,
      declaredDevices,
      allowAnonymous: config.security.allow_anonymous,
      certificateLogins: tls?.ca !== undefined,
    }),
    writers: new ReadingWriters({ credentials, passwords, tokens, allowAnonymous: config.security.allow_anonymous }),
    tls,
    brokerLimits: brokerLimitsOf(config),
    warnings: exposureWarnings(exposure),
  };
}
