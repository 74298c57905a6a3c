// The `cluster` section: hubs that act as one through a Redis they share. Without a Redis URL the
// hub runs alone, exactly as before.
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { duration, id, integer } from './fields.ts';

export const clusterSection = z
  .strictObject({
    /** The Redis the hubs share, redis:// or rediss:// (TLS); absent: this hub runs alone. */
    redis_url: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, { error: 'must be a Redis URL such as redis://127.0.0.1:6379' })
      .optional(),
    /** This hub's name in the cluster, as health and the logs show it. Default: the host name. */
    node_id: id.optional(),
    /** Every key and channel of the cluster starts with it, so clusters can share one Redis. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, { error: 'must be letters, digits, "_" or "-"' })
      .default('floorwatch'),
    /**
     * How long the rules lease holds without renewal: a leader that dies is replaced within it.
     * Default 5 s.
     */
    lease_ms: integer(1000, 60_000).default(5000),
    /**
     * How often each hub's broker tells the others it is alive. A hub silent for three of these is
     * presumed dead, and the last wills of its devices that have not connected elsewhere are
     * published by the others (at the next sweep, every four). Default 15 s.
     */
    broker_heartbeat: duration.default('15s'),
    /**
     * A hub that has not reported for this long, and whose forwarded entries the rules have all
     * read, is forgotten: no longer listed in health nor read. Started again, it joins as new.
     */
    forget_node_after: duration
      .refine((v) => (parseDuration(v) ?? 0) >= 60_000, {
        error: 'must be at least "1m": a hub that restarts must not be forgotten meanwhile',
      })
      .default('7d'),
    /** Redis unreachable this long raises this hub's cluster_degraded alert. */
    degraded_after: duration.default('10s'),
    /**
     * Entries of this hub's journal kept in Redis for a rules leader that has not read them yet;
     * past it Redis drops the oldest (the readings themselves are stored by this hub).
     */
    max_stream_entries: integer(1000, 10_000_000).default(100_000),
    /**
     * Entries of this hub's journal kept for Redis while it is away: past it the oldest are
     * passed over (counted and logged), so Redis gone for good cannot hold the journal until the
     * disk is full. This hub still stores them; the cluster's rules never see them.
     */
    max_behind: integer(1000, 100_000_000).default(1_000_000),
    /** Copies of broker messages for the other hubs waiting for Redis, at most; past it they are not sent (counted). */
    max_waiting_messages: integer(10, 10_000_000).default(10_000),
  })
  .prefault({});

export function checkCluster(
  cfg: { cluster: z.output<typeof clusterSection>; storage: { influx_url?: string | undefined } },
  ctx: z.core.$RefinementCtx,
): void {
  if (cfg.cluster.redis_url !== undefined && cfg.storage.influx_url === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['cluster', 'redis_url'],
      message:
        'a cluster stores readings in InfluxDB, which every hub writes to and reads from: set storage.influx_url (or FLOORWATCH_INFLUX_URL), or leave cluster.redis_url unset to run one hub alone',
      input: cfg.cluster.redis_url,
    });
  }
}

/** The hub's name in the cluster. */
export function nodeId(cluster: z.output<typeof clusterSection>): string {
  return cluster.node_id ?? hostname();
}
