// The `limits` section: the bounds that keep the broker and ingest within memory and fair to every
// client, whatever a client or the outside sends.
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { duration, integer } from './fields.ts';

export const limitsSection = z
  .strictObject({
    max_connections: integer(1, 1_000_000).default(5000),
    /**
     * Open MQTT connections per API token, and per address for anonymous clients under
     * security.allow_anonymous. A device has one by MQTT's own rule: its id is its client id.
     */
    max_connections_per_credential: integer(1, 1_000_000).default(50),
    /** Device passwords checked (scrypt) at the same time, and logins waiting for a check; more are refused with CONNACK 3. */
    password_checks_at_once: integer(1, 64).default(2),
    password_checks_waiting: integer(0, 100_000).default(64),
    /**
     * Largest MQTT packet the broker reads; a bigger one closes the connection. Unset: what
     * ingest accepts (ingest.max_payload_bytes) and 1 KiB for the topic and headers.
     */
    max_packet_bytes: integer(1024, 256 * 1024 * 1024).optional(),
    /** Retained messages clients may leave in the broker, in all (topic + payload + 256 bytes each); past it a message is delivered but not retained. */
    max_retained_bytes: integer(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
    /** Per client, messages the broker has for it and it has not read yet, and their bytes; past either it is disconnected. */
    max_queued_messages: integer(10, 10_000_000).default(1000),
    max_queued_bytes: integer(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
    /**
     * Bytes of messages read from clients and not yet in the journal, each counted with 1 KiB
     * for what the hub keeps of it on the way; at it, the hub stops reading from publishing
     * clients until it drains.
     */
    max_pending_bytes: integer(64 * 1024, 1024 * 1024 * 1024).default(32 * 1024 * 1024),
    /** While messages wait longer than this for the journal, QoS 0 readings and heartbeats are shed (counted). */
    max_ingest_delay: duration.default('50ms'),
    /** QoS 1/2 messages kept for all clients with a persistent session together, beside max_queued_messages each. */
    max_offline_messages: integer(100, 100_000_000).default(100_000),
    /**
     * Clients the broker keeps a session for between connections (clean session false); a client
     * asking for a further one is refused with CONNACK 3. One per device is the usual use.
     */
    max_persistent_sessions: integer(1, 10_000_000).default(20_000),
    /** Per client: sustained messages per second, and the burst allowed above it. */
    messages_per_second: integer(1, 1_000_000).default(200),
    message_burst: integer(1, 10_000_000).default(2000),
    /** A client over its rate for this long without a pause is disconnected. */
    rate_grace: duration.default('10s'),
    /**
     * Topics a client may be subscribed to at once, and all connected clients together; a further
     * subscription is refused in the SUBACK. Home Assistant takes about two per zone.
     */
    max_subscriptions_per_client: integer(1, 1_000_000).default(1000),
    max_subscriptions: integer(1, 100_000_000).default(200_000),
    /** Per client: QoS 1/2 messages received and not yet acknowledged. */
    max_inflight: integer(1, 65_535).default(1000),
    /**
     * Longest silence the hub allows a connection: a client asking for a longer keepalive is
     * closed after 1.5 times this without a packet. Keepalive 0 (none) is accepted; TCP
     * keepalive probes, sent after this much silence, find a peer that vanished.
     */
    max_keepalive: duration.default('15m'),
    /** Time a new connection has to send CONNECT. */
    connect_timeout: duration.default('10s'),
    /** Sockets from one address (an IPv6 /64) that have not sent CONNECT yet; a further one is closed at once. */
    max_connecting_per_address: integer(1, 1_000_000).default(256),
    /** Per API token and per address, once API tokens exist. */
    api_requests_per_minute: integer(1, 1_000_000).default(1200),
    /**
     * Time an HTTP client has to send a whole request, headers and body; past it the hub answers
     * 408 and closes the connection, so a client that stalls cannot hold a socket for good.
     */
    http_request_timeout: duration
      .refine((v) => (parseDuration(v) ?? 0) >= 1000, { error: 'must be at least "1s"' })
      .default('30s'),
    /**
     * Reports (shift handover, equipment record) prepared at once, and requests waiting for their
     * turn; a further one is refused (503). A week's report reads the store a day at a time.
     */
    reports_at_once: integer(1, 16).default(1),
    reports_waiting: integer(0, 1000).default(8),
    /**
     * Time an HTTP client may take nothing of an answer; past it the answer is cut off and the
     * connection closed, so a client that asks and never reads cannot hold it. A slow client that
     * keeps reading is not cut off.
     */
    http_answer_timeout: duration
      .refine((v) => (parseDuration(v) ?? 0) >= 1000, { error: 'must be at least "1s"' })
      .default('60s'),
    /**
     * Bytes of HTTP answers handed over that clients have not taken, all connections together;
     * past it a further answer is refused (503) rather than held.
     */
    http_unread_bytes: integer(1024 * 1024, 4 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    /** Open live feeds (GET /api/v1/events, a floor page each) in all; a further one is refused (503). */
    max_event_streams: integer(1, 100_000).default(100),
    /** Of those, open with one token; a further one is refused (429). */
    max_event_streams_per_token: integer(1, 100_000).default(20),
    /** Devices the hub takes on (declared ones included); a message from a further one is refused. */
    max_devices: integer(1, 100_000).default(20_000),
  })
  .prefault({});
