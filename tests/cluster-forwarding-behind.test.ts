// A hub whose cluster's Redis is away must not hold its journal until the disk is full: once
// forwarding is cluster.max_behind entries behind, the oldest are passed over, counted and logged;
// with Redis back, forwarding catches up.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { capturedLog, eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { co2Readings } from './support/mqtt.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

interface ClusterCheck {
  nodes: { node: string; journalLsn: number; forwardedLsn: number }[];
}

describe('a hub whose cluster’s Redis is away', () => {
  let hub: TestHub | undefined;
  let redis: RedisHandle | undefined;
  afterAll(async () => {
    redis?.resume();
    await hub?.dispose();
    await redis?.dispose();
  });

  it('passes over the oldest entries past cluster.max_behind, says so, and forwards again', async () => {
    redis = await startRedis();
    const { log, lines } = capturedLog();
    hub = await startTestHub({
      log,
      influxUrl: `${inject('influxUrl')}/cluster_behind_${Date.now()}`,
      config: {
        zones: [{ id: 'floor-1', type: 'call_floor' }],
        cluster: { redis_url: redis.url, node_id: 'node-a', lease_ms: 1000, max_behind: 1000 },
      },
    });
    redis.pause();
    await co2Readings(hub.mqttUrl, 'env-1', 1100);
    // Passed over as the forwarding consumer wakes between its attempts: at least the 100 past the bound.
    await eventually(
      async () => (await metric(hub!, /^floorwatch_cluster_entries_not_forwarded_total(?:\{[^}]*\})? (\d+)$/m)) >= 100,
      { what: 'entries passed over, not forwarded' },
    );
    expect(lines.find((l) => l.includes('forwarding to the cluster'))).toMatch(
      /^this hub is 1000 journal entries behind in forwarding to the cluster's Redis \(cluster\.max_behind\), so the oldest are passed over, not forwarded: \d+ entr(y|ies) since the hub started, which the cluster's rules do not see \(this hub still stores them\)$/,
    );

    redis.resume();
    const forwarded = async () => {
      const { checks } = await hub!.json<{ checks: { cluster: ClusterCheck } }>('/api/v1/health');
      const own = checks.cluster.nodes.find((n) => n.node === 'node-a');
      return own !== undefined && own.journalLsn >= 1100 && own.forwardedLsn === own.journalLsn ? own : undefined;
    };
    const caughtUp = await eventually(forwarded, { what: 'forwarding caught up' });
    // The stream ends with the journal. (A batch Redis took as it stopped may be in it too, though
    // the hub passed it over after the attempt timed out.)
    const reader = new Redis(redis.url);
    try {
      const [last] = await reader.xrevrange('floorwatch:entries:node-a', '+', '-', 'COUNT', 1);
      expect(last?.[0]).toBe(`${caughtUp.journalLsn}-0`);
    } finally {
      reader.disconnect();
    }
  });
});
