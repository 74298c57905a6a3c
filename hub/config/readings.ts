// The `ingest` and `storage` sections: which readings are taken in, and where and how long they
// are kept.
import { z } from 'zod';
import { MAX_AHEAD_MS } from '../domain/reading.ts';
import { parseDuration } from './duration.ts';
import { duration, flag, integer } from './fields.ts';

export const ingestSection = z
  .strictObject({
    /** How far ahead of the hub's clock a device's timestamp may be and still be used; at most a day. */
    max_clock_skew: duration
      .refine((v) => (parseDuration(v) ?? 0) <= MAX_AHEAD_MS, {
        error: 'must be at most 1d: a device clock further ahead than that is wrong, not early',
      })
      .default('5m'),
    /** How old a replayed reading may be and keep its own timestamp (offline buffers). */
    max_replay_age: duration.default('7d'),
    max_payload_bytes: integer(64, 16 * 1024 * 1024).default(64 * 1024),
    max_metrics_per_device: integer(1, 10_000).default(64),
    /** Components a device may name in its heartbeats; each is an alert when it reports a fault. */
    max_components_per_device: integer(1, 10_000).default(64),
    /** false: readings from devices not listed under `devices` are refused. */
    accept_undeclared_devices: flag.default(true),
    rejections_kept: integer(10, 100_000).default(1000),
  })
  .prefault({});

export const storageSection = z
  .strictObject({
    /** http://host:8086/database — unset means the embedded SQLite store. */
    influx_url: z
      .url({
        protocol: /^https?$/,
        error: 'must be an http(s) URL with the database in the path, e.g. http://127.0.0.1:8086/floorwatch',
      })
      .optional(),
    /**
     * managed: the hub creates the InfluxDB database and retention policies (InfluxDB 1.x).
     * external: it creates nothing (InfluxDB 2.x through DBRP mappings, or a database kept by its administrator).
     */
    influx_schema: z.enum(['managed', 'external']).default('managed'),
    raw_retention: duration.default('30d'),
    /** The 1-minute aggregates and alert history, in either store. */
    long_term_retention: duration.default('104w'),
    /**
     * (device, metric, minute)s whose 1-minute aggregates may wait in memory for their minute to
     * close; beyond it the hub rolls them all up before it stores more.
     */
    minutes_waiting_max: integer(1000, 10_000_000).default(200_000),
    /**
     * SQLite store: reads (charts, reports, the API) waiting for its reader at most; past it a read
     * is answered 503 "busy" at once, counted and logged, rather than queued in memory.
     */
    max_waiting_reads: integer(1, 10_000).default(64),
    /**
     * SQLite store: threads answering reads at most, each started when first needed; a long read
     * holds up only reads that wait for its own thread while all are busy.
     */
    read_threads: integer(1, 16).default(2),
    /** Readings the store refused for good and journal entries set aside, kept on disk for GET /api/v1/rejections. */
    set_aside_kept: integer(10, 1_000_000).default(10_000),
  })
  .prefault({});
