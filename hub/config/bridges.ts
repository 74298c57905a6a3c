// The `bridges` section: external MQTT brokers a site already runs (Mosquitto, EMQX, HiveMQ). Out:
// the hub's alerts, its status, device births and wills and, if asked, readings. In: devices that
// publish to that broker, taken in as if they had published here.
import { z } from 'zod';
import { flag, id, integer, topicFilter } from './fields.ts';

export const bridgeSchema = z.strictObject({
  /** The bridge's name, in logs, health and its client ids. */
  name: id,
  /** mqtt:// or mqtts:// (TLS, checked against the system's CAs or `ca`). */
  url: z.string().regex(/^mqtts?:\/\/[^\s/]+(:\d+)?\/?$/, { error: 'must be a broker URL such as mqtt://broker:1883' }),
  /** MQTT 5 (default) or 3.1.1 ("4"). */
  protocol: z.union([z.literal(5), z.literal(4)], { error: 'must be 5 (MQTT 5) or 4 (MQTT 3.1.1)' }).default(5),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** A PEM CA file for mqtts:// brokers with their own CA. */
  ca: z.string().min(1).optional(),
  out: z
    .strictObject({
      /** Alert messages, retained, through a durable outbox: a broker outage loses none. */
      alerts: flag.default(true),
      /** The hub's status (birth and will) and the devices' births and wills. */
      status: flag.default(true),
      /** Readings too, as `{prefix}/devices/{id}/telemetry`. */
      readings: flag.default(false),
      /** Home Assistant MQTT discovery messages, retained. */
      discovery: flag.default(false),
      /**
       * Messages sent and not yet acknowledged by the broker at most; past it a message waits in
       * the hub's outbox or journal, not in memory, until the broker acknowledges again.
       */
      max_unacknowledged: integer(1, 65_535).default(100),
      /**
       * Journal entries the status and readings sent to this broker may be behind at most; past it
       * the oldest are passed over (counted and logged), so a broker gone for good cannot hold the
       * journal until the disk is full. Alerts go through the outbox and are not passed over.
       */
      max_behind: integer(1000, 100_000_000).default(1_000_000),
    })
    .prefault({}),
  in: z
    .strictObject({
      /** Device topics to take in from this broker; none: nothing is taken in. */
      topics: z.array(topicFilter).max(100).default([]),
      /** With MQTT 5, hubs of one site share the subscription ($share/<group>/…) instead of each taking every message. */
      shared_group: id.optional(),
    })
    .prefault({}),
});

export const bridgesSection = z.array(bridgeSchema).max(20).default([]);

export type BridgeConfig = z.output<typeof bridgeSchema>;
