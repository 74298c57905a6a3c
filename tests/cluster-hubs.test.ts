// Two hubs acting as one through a real redis-server, in this process: the rules run once for the
// cluster, an alert raised by a reading on one hub is announced on the other, the API of either
// answers with the cluster's alerts and takes an acknowledgement, and when the leader stops the
// other hub takes the rules over where it left them. A device forgotten through one hub is
// forgotten by the cluster. What a hub of another shape (or a damaged Redis) leaves there is passed
// over, and the rules go on.
import { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { headsetHeartbeat as heartbeat } from './support/mqtt.ts';
import { eventually, metric, startTestHub, type TestHub } from './support/hub.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

interface Alert {
  id: number;
  key: string;
  state: string;
  ack?: { by: string };
}
interface Notice {
  event: string;
  term?: number;
  alert: Alert;
}
interface ClusterCheck {
  ok: boolean;
  node: string;
  leader: string | null;
  nodes: { node: string }[];
}

async function cluster(hub: TestHub): Promise<ClusterCheck> {
  return (await hub.json<{ checks: { cluster: ClusterCheck } }>('/api/v1/health')).checks.cluster;
}

async function alerts(hub: TestHub, state?: string): Promise<Alert[]> {
  return (await hub.json<{ alerts: Alert[] }>(`/api/v1/alerts${state === undefined ? '' : `?state=${state}`}`)).alerts;
}

describe('two hubs acting as one', () => {
  let redis: RedisHandle;
  let receiver: Server;
  let hookUrl: string;
  const hooks: Array<{ delivery: string; notice: Notice }> = [];
  const hubs = new Map<string, TestHub>();
  const watchers: MqttClient[] = [];

  const start = async (node: string) => {
    const hub = await startTestHub({
      influxUrl: `${inject('influxUrl')}/cluster_hubs`,
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        devices: [{ id: 'p-1', kind: 'headset', zone: 'floor-a' }],
        notify: { webhooks: [{ url: hookUrl, secret: 'a-secret-for-the-cluster-tests' }] },
        cluster: { redis_url: redis.url, node_id: node, lease_ms: 1000 },
      },
    });
    hubs.set(node, hub);
    return hub;
  };

  beforeAll(async () => {
    redis = await startRedis();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooks.push({ delivery: String(req.headers['x-floorwatch-delivery']), notice: JSON.parse(body) as Notice });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  });
  afterAll(async () => {
    for (const w of watchers) await w.endAsync();
    for (const hub of hubs.values()) await hub.dispose();
    await new Promise((resolve) => receiver.close(resolve));
    await redis.dispose();
  });

  it('runs the rules once, announces on every hub, and hands the rules over when the leader stops', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const leaderName = await eventually(async () => (await cluster(b)).leader ?? undefined, { what: 'a rules leader' });
    const leader = hubs.get(leaderName)!;
    const other = leader === a ? b : a;
    expect((await cluster(other)).nodes.map((n) => n.node)).toEqual(['node-a', 'node-b']);
    // Each hub's metrics say which hub they are from.
    expect(await (await a.api('/metrics')).text()).toMatch(/^floorwatch_mqtt_clients\{node="node-a"\} \d+$/m);

    // A subscriber on the hub that does not lead; the fault reaches the other hub.
    const watch = await mqtt.connectAsync(other.mqttUrl, { clientId: 'watch-1' });
    watchers.push(watch);
    const messages: Notice[] = [];
    watch.on('message', (_topic, payload) => {
      if (payload.length > 0) messages.push(JSON.parse(payload.toString()) as Notice);
    });
    await watch.subscribeAsync('floorwatch/alerts/#', { qos: 1 });
    await heartbeat(other.mqttUrl, 'p-1', 'fault');

    const firing = await eventually(() => messages.find((m) => m.event === 'firing'), { what: 'the alert on MQTT' });
    expect(firing.alert.key).toBe('equipment.headset.p-1');
    expect(firing.term).toBeGreaterThan(0);
    // Both hubs' APIs answer with the cluster's alert.
    for (const hub of [a, b])
      await eventually(async () => (await alerts(hub)).some((x) => x.state === 'firing'), {
        what: 'the alert in every hub’s API',
      });

    // The hub the device is not connected to knows it was heard.
    await eventually(
      async () => {
        const device = await leader.json<{ lastHeartbeat: number | null; status: string | null }>(
          '/api/v1/devices/p-1',
        );
        return device.lastHeartbeat !== null && device.status === 'fault';
      },
      { what: 'the device in the other hub’s device list' },
    );

    // Acknowledged on the hub that does not lead.
    const ack = await other.api(`/api/v1/alerts/${firing.alert.id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'night shift' }),
    });
    expect(ack.status, await ack.clone().text()).toBe(200);
    expect(((await ack.json()) as Alert).ack?.by).toBe('night shift');
    await eventually(
      async () => (await alerts(leader)).find((x) => x.id === firing.alert.id)?.ack?.by === 'night shift',
      {
        what: 'the acknowledgement on the leader',
      },
    );

    // The leader stops; the other hub takes the rules over and resolves the alert once.
    await leader.stop();
    await eventually(async () => (await cluster(other)).leader === (other === a ? 'node-a' : 'node-b'), {
      what: 'the other hub to lead',
      timeoutMs: 10_000,
    });
    await heartbeat(other.mqttUrl, 'p-1', 'ok');
    await eventually(() => messages.some((m) => m.event === 'resolved'), { what: 'the resolution on MQTT' });
    await eventually(() => hooks.some((h) => h.notice.event === 'resolved'), { what: 'the resolved webhook' });
    const kinds = hooks.filter((h) => h.notice.alert.key === 'equipment.headset.p-1').map((h) => h.notice.event);
    expect(kinds.filter((k) => k === 'firing')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'resolved')).toHaveLength(1);
    expect(new Set(hooks.map((h) => h.delivery)).size).toBe(hooks.length);
  });

  it('forgets a device on every hub when one hub is told, and the rules resolve its alert', async () => {
    const c = await start('node-c');
    const d = await start('node-d');
    const key = 'equipment.headset.p-9';
    await heartbeat(c.mqttUrl, 'p-9', 'fault');
    await eventually(async () => (await alerts(d, 'firing')).some((x) => x.key === key), { what: 'the alert of p-9' });
    await eventually(async () => (await d.api('/api/v1/devices/p-9')).status === 200, { what: 'p-9 in the list' });

    const told = await d.api('/api/v1/devices/p-9/forget', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // Heard from a moment ago, so shown online.
      body: JSON.stringify({ by: 'night shift', force: true }),
    });
    expect(told.status, await told.clone().text()).toBe(200);
    for (const hub of [c, d]) {
      await eventually(async () => (await hub.api('/api/v1/devices/p-9')).status === 404, {
        what: 'p-9 gone from every hub’s list',
      });
      const resolved = await eventually(async () => (await alerts(hub, 'resolved')).find((x) => x.key === key), {
        what: 'the alert resolved',
      });
      expect(resolved.state).toBe('resolved');
    }
    expect((await alerts(c, 'firing')).some((x) => x.key === key)).toBe(false);
  });

  it('passes over a report and entries in Redis that are not ones, or that the rules fail on, and the rules go on to the next alert', async () => {
    const e = await start('node-e');
    const raw = new Redis(redis.url, { keyPrefix: 'floorwatch:' });
    try {
      await raw.hset('nodes', 'node-x', 'not json');
      await raw.xadd('entries:node-x', '1-0', 'entry', 'not json');
      await raw.xadd(
        'entries:node-x',
        '2-0',
        'entry',
        JSON.stringify({ type: 'readings', readings: [{ device: 'x' }] }),
      );
      // Of an entry's shape, but what the rules cannot take: a heartbeat without its components.
      await raw.xadd(
        'entries:node-x',
        '3-0',
        'entry',
        JSON.stringify({ type: 'heartbeat', heartbeat: { device: 'hx-1', zone: 'floor-a', ts: 1, status: 'fault' } }),
      );
    } finally {
      raw.disconnect();
    }
    // A hub of a cluster labels its metrics with its node.
    const passedOver = /^floorwatch_cluster_entries_passed_over_total(?:\{[^}]*\})? (\d+)$/m;
    // The leader reads node-x's stream for the rules and again for its device list: both pass over
    // the first two; the rules fail on the third, and pass it over.
    const leader = await eventually(async () => {
      const name = (await cluster(e)).leader;
      const hub = name === null ? undefined : hubs.get(name);
      return hub && (await metric(hub, passedOver)) >= 5 ? hub : undefined;
    });
    expect((await cluster(leader)).nodes.map((n) => n.node)).not.toContain('node-x');

    await heartbeat(e.mqttUrl, 'p-10', 'fault');
    await eventually(async () => (await alerts(e, 'firing')).some((x) => x.key === 'equipment.headset.p-10'), {
      what: 'the alert of p-10',
    });
  });
});
