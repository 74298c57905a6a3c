// The hub's own measurements, exposed at /metrics in Prometheus format. One registry per hub so
// several hubs in one process (tests) do not share counters.
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type LabelValues,
} from 'prom-client';

/** A count kept in a plain number until its counter is read. */
export interface Tally {
  inc(n?: number): void;
}

/**
 * A counter bumped for every message or reading. `tally(labels)` hands out a count kept in a plain
 * number, added into the counter whenever it is read (a scrape, or `get()`): on the hot path a
 * label lookup and a hash per message cost more than everything else about counting.
 */
function hotCounter<T extends string>(
  config: CounterConfiguration<T>,
): Counter<T> & { tally(labels?: LabelValues<T>): Tally } {
  // One per set of labels, so they are as bounded as the labels are.
  const tallies = new Map<string, { labels: LabelValues<T>; n: number }>();
  const counter = new Counter<T>({
    ...config,
    collect(this: Counter<T>) {
      for (const t of tallies.values()) {
        if (t.n === 0) continue;
        this.inc(t.labels, t.n);
        t.n = 0;
      }
    },
  });
  return Object.assign(counter, {
    tally(labels: LabelValues<T> = {}): Tally {
      const key = JSON.stringify(labels);
      let t = tallies.get(key);
      if (!t) {
        t = { labels, n: 0 };
        tallies.set(key, t);
      }
      const kept = t;
      return {
        inc(n = 1) {
          kept.n += n;
        },
      };
    },
  });
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'floorwatch_' });
  const registers = [registry];
  return {
    registry,
    messagesIn: hotCounter({
      name: 'floorwatch_messages_received_total',
      help: 'Messages received, by source and kind',
      labelNames: ['source', 'kind'] as const,
      registers,
    }),
    readingsAccepted: hotCounter({
      name: 'floorwatch_readings_accepted_total',
      help: 'Readings accepted into the journal',
      registers,
    }),
    readingsStored: new Counter({
      name: 'floorwatch_readings_stored_total',
      help: 'Readings written to the store',
      registers,
    }),
    rejections: new Counter({
      name: 'floorwatch_rejections_total',
      help: 'Messages or values refused, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'floorwatch_duplicates_dropped_total',
      help: 'Readings dropped because the same (device, seq) or (device, metric, ts) was already journaled',
      registers,
    }),
    clockCorrections: new Counter({
      name: 'floorwatch_clock_corrections_total',
      help: 'Readings whose device timestamp was outside the allowed skew and were stored at receive time',
      registers,
    }),
    journalLag: new Gauge({
      name: 'floorwatch_journal_lag_entries',
      help: 'Journal entries a consumer has not yet committed',
      labelNames: ['consumer'] as const,
      registers,
    }),
    journalBehind: new Gauge({
      name: 'floorwatch_journal_behind_seconds',
      help: 'How long ago the oldest entry a running journal consumer has not handled yet became durable; 0 when it is caught up',
      labelNames: ['consumer'] as const,
      registers,
    }),
    journalWritable: new Gauge({
      name: 'floorwatch_journal_writable',
      help: '1 when the journal can write to disk',
      registers,
    }),
    journalFlushSeconds: new Histogram({
      name: 'floorwatch_journal_flush_seconds',
      help: "Time from the start of a journal group's write until the hub sees it on disk; every QoS 1 acknowledgement waits for one, so a slow disk, or a hub too busy to see it done, shows here first",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    storeUp: new Gauge({
      name: 'floorwatch_store_up',
      help: '1 while the store takes writes; 0 from a failed write until one succeeds, and while a write has waited rules.storage_down_after unanswered',
      registers,
    }),
    storeWriteSeconds: new Histogram({
      name: 'floorwatch_store_write_seconds',
      help: 'Time to write one batch to the store',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    readingAgeAtStore: new Histogram({
      name: 'floorwatch_reading_age_at_store_seconds',
      help: "Time from a reading's event time to its write to the store (includes any replayed backlog)",
      buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    storeRefused: new Counter({
      name: 'floorwatch_store_refused_total',
      help: 'Readings the store refused for good (a field type conflict, a series limit, a value it cannot hold): set aside and listed at /api/v1/rejections?stage=store',
      registers,
    }),
    storeReadsBusy: new Counter({
      name: 'floorwatch_store_reads_busy_total',
      help: 'Reads the store answered "busy" at once because storage.max_waiting_reads already waited for it (SQLite: for its reader threads; InfluxDB: for their turn)',
      registers,
    }),
    setAside: new Counter({
      name: 'floorwatch_set_aside_total',
      help: 'Records set aside so the pipeline keeps flowing, by stage: store (readings the store refused) or the journal consumer that gave up on an entry',
      labelNames: ['stage'] as const,
      registers,
    }),
    httpUnreadBytes: new Gauge({
      name: 'floorwatch_http_unread_bytes',
      help: 'Bytes of HTTP answers handed over that their clients have not taken yet; limits.http_unread_bytes bounds them',
      registers,
    }),
    httpUnreadClosed: new Counter({
      name: 'floorwatch_http_unread_closed_total',
      help: 'HTTP connections closed because an answer was not taken within limits.http_answer_timeout (unread) or too many requests were sent ahead of their answers (ahead)',
      labelNames: ['reason'] as const,
      registers,
    }),
    httpUnreadRefused: new Counter({
      name: 'floorwatch_http_unread_refused_total',
      help: 'HTTP answers refused (503) because limits.http_unread_bytes of answers already waited for their clients',
      registers,
    }),
    logLinesDropped: new Counter({
      name: 'floorwatch_log_lines_dropped_total',
      help: 'Log lines not written because log_max_waiting_bytes of lines already waited for standard output (a log reader that stopped reading)',
      registers,
    }),
    notificationsDropped: new Counter({
      name: 'floorwatch_notifications_dropped_total',
      help: 'Alert notifications dropped, the oldest first, because more than notify.max_undelivered waited for a receiver that could not take them; by receiver',
      labelNames: ['target'] as const,
      registers,
    }),
    minutesWaiting: new Gauge({
      name: 'floorwatch_minutes_waiting',
      help: '(device, metric, minute)s whose readings are stored and whose 1-minute aggregate waits to be rolled up: the minute has not closed, or the store is down; at storage.minutes_waiting_max all are rolled up at once',
      registers,
    }),
    minutesRolledUp: new Counter({
      name: 'floorwatch_minutes_rolled_up_total',
      help: '(device, metric, minute) aggregates rewritten from the raw readings',
      registers,
    }),
    minutesDropped: new Counter({
      name: 'floorwatch_minutes_dropped_total',
      help: '(device, metric, minute) aggregates the store refused for good; their raw readings are stored',
      registers,
    }),
    configReloads: new Counter({
      name: 'floorwatch_config_reloads_total',
      help: 'Configuration reloads taken on (SIGHUP, POST /api/v1/config/reload)',
      registers,
    }),
    configReloadFailures: new Counter({
      name: 'floorwatch_config_reload_failures_total',
      help: 'Configuration reloads refused for a problem in the configuration; the hub ran on as it was',
      registers,
    }),
    storeWriteFailures: new Counter({
      name: 'floorwatch_store_write_failures_total',
      help: 'Store write attempts that failed (retried)',
      registers,
    }),
    mqttClients: new Gauge({ name: 'floorwatch_mqtt_clients', help: 'Connected MQTT clients', registers }),
    eventStreams: new Gauge({
      name: 'floorwatch_event_streams',
      help: 'Open live feeds (GET /api/v1/events); at limits.max_event_streams a further one is refused',
      registers,
    }),
    knownDevices: new Gauge({
      name: 'floorwatch_known_devices',
      help: 'Devices the hub has taken on (declared ones included); at limits.max_devices further ones are refused (floorwatch_rejections_total{reason="too_many_devices"})',
      registers,
    }),
    mqttRefused: new Counter({
      name: 'floorwatch_mqtt_refused_total',
      help: 'MQTT connections, publishes and subscriptions refused, by reason (bad_credentials, not_authorized, client_id_rejected, logins_busy, locked_out, credential_connections, publish_denied, subscribe_denied, too_many_connections, too_many_sockets: closed as they came, past max_connections and the room for those being refused, too_many_connecting: closed as they came, past max_connecting_per_address from one address, packet_too_large, too_many_inflight, rate_exceeded, too_many_subscriptions: past limits.max_subscriptions_per_client or max_subscriptions, outgoing_queue_full: a client that does not read what the hub sends it, flooding: QoS 0 past its share of an overloaded hub for rate_grace)',
      labelNames: ['reason'] as const,
      registers,
    }),
    revokedConnectionsClosed: new Counter({
      name: 'floorwatch_revoked_connections_closed_total',
      help: 'Open connections the hub closed because the password or token they logged in with was revoked or replaced, or because they came in anonymously, by connection (mqtt, events) and reason (revoked, password_changed, login_required: let in anonymously before the first password or token)',
      labelNames: ['connection', 'reason'] as const,
      registers,
    }),
    httpRefused: new Counter({
      name: 'floorwatch_http_refused_total',
      help: "HTTP requests and WebSocket upgrades refused before any route ran, by reason (origin: from a web page of an origin not allowed; host: a Host name other than this machine's, on a hub that answers without a token)",
      labelNames: ['reason'] as const,
      registers,
    }),
    mqttPasswordChecks: new Counter({
      name: 'floorwatch_mqtt_password_checks_total',
      help: 'Device passwords checked at login (MQTT, or HTTP Basic to send readings), by how: scrypt, or remembered (the device came back with the password it last proved)',
      labelNames: ['how'] as const,
      registers,
    }),
    loginLockouts: new Counter({
      name: 'floorwatch_mqtt_login_lockouts_total',
      help: 'Source addresses locked out of MQTT logins after too many wrong passwords (security.login_failures)',
      registers,
    }),
    loginFailureSourcesForgotten: new Counter({
      name: 'floorwatch_mqtt_login_failure_sources_forgotten_total',
      help: 'Addresses whose wrong passwords were forgotten to stay within security.login_failures.tracked_addresses',
      registers,
    }),
    mqttRetainIgnored: new Counter({
      name: 'floorwatch_mqtt_retain_ignored_total',
      help: 'Retained MQTT messages delivered but not kept, by reason (not_retained_topic: under the prefix only a device status is retained; retained_full: limits.max_retained_bytes reached)',
      labelNames: ['reason'] as const,
      registers,
    }),
    mqttRetainedBytes: new Gauge({
      name: 'floorwatch_mqtt_retained_bytes',
      help: 'Bytes of retained messages clients keep in the broker (topic + payload + 256 each), against limits.max_retained_bytes',
      registers,
    }),
    mqttSubscriptions: new Gauge({
      name: 'floorwatch_mqtt_subscriptions',
      help: 'Topics the connected MQTT clients are subscribed to, against limits.max_subscriptions (and limits.max_subscriptions_per_client each)',
      registers,
    }),
    mqttPersistentSessions: new Gauge({
      name: 'floorwatch_mqtt_persistent_sessions',
      help: 'Clients the broker keeps a session for between connections (clean session false), against limits.max_persistent_sessions',
      registers,
    }),
    mqttQueueDropped: new Counter({
      name: 'floorwatch_mqtt_queue_dropped_total',
      help: 'QoS 1/2 messages not kept for a client with a persistent session, whose kept messages reached limits.max_queued_messages (or all such sessions limits.max_offline_messages)',
      registers,
    }),
    mqttPendingBytes: new Gauge({
      name: 'floorwatch_mqtt_pending_bytes',
      help: 'Bytes of MQTT messages read and not yet journaled, 1 KiB counted per message, against limits.max_pending_bytes',
      registers,
    }),
    mqttOverloaded: new Gauge({
      name: 'floorwatch_mqtt_overloaded',
      help: '1 while the hub is overloaded (see floorwatch_mqtt_shed_total), else 0',
      registers,
    }),
    clusterNotSent: new Counter({
      name: 'floorwatch_cluster_messages_not_sent_total',
      help: "Broker messages not passed to the other hubs of the cluster: more than cluster.max_waiting_messages were waiting for Redis, or Redis refused them (this hub's own subscribers had them)",
      registers,
    }),
    clusterEntriesPassedOver: new Counter({
      name: 'floorwatch_cluster_entries_passed_over_total',
      help: "Entries another hub of the cluster forwarded through Redis that are not entries (damaged, or of a release that writes another shape): passed over by the rules leader and by each hub's device list, and logged",
      registers,
    }),
    clusterNotForwarded: new Counter({
      name: 'floorwatch_cluster_entries_not_forwarded_total',
      help: "Entries of this hub's journal passed over, not forwarded to the cluster's Redis: forwarding was cluster.max_behind entries behind (a batch Redis took as it stopped may have reached it all the same)",
      registers,
    }),
    mqttShed: new Counter({
      name: 'floorwatch_mqtt_shed_total',
      help: 'QoS 0 messages not taken in because the hub was overloaded (messages waited longer than limits.max_ingest_delay for the journal, or the rules were further behind than rules.max_behind) and their client sent more than its share',
      registers,
    }),
    mqttDropped: new Counter({
      name: 'floorwatch_mqtt_dropped_total',
      help: "MQTT messages over a client's rate limit, acknowledged but not stored",
      registers,
    }),
    bridgePassedOver: new Counter({
      name: 'floorwatch_bridge_entries_passed_over_total',
      help: "Journal entries a bridge's broker never got: passed over once the bridge was bridges[].out.max_behind entries behind, by bridge",
      labelNames: ['bridge'] as const,
      registers,
    }),
    bridgeUnacknowledged: new Gauge({
      name: 'floorwatch_bridge_unacknowledged',
      help: "Messages sent to a bridge's broker and not yet acknowledged, by bridge, against bridges[].out.max_unacknowledged",
      labelNames: ['bridge'] as const,
      registers,
    }),
    serialFrames: new Counter({
      name: 'floorwatch_serial_frames_total',
      help: 'Serial gateway frames and line noise, by gateway and result (ok, bad_checksum, garbage, too_long, rejected)',
      labelNames: ['gateway', 'result'] as const,
      registers,
    }),
    gatewayOnline: new Gauge({
      name: 'floorwatch_gateway_online',
      help: '1 while a serial gateway is online',
      labelNames: ['gateway'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
