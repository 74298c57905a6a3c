// Three hub processes behind HAProxy acting as one, with a real redis-server and influxd: 60
// devices publish QoS 1 through HAProxy while the rules leader is killed with SIGKILL, and later
// another hub; the killed hubs come back. Every acknowledged reading is in InfluxDB exactly once,
// and a server room that overheats while the leader dies gets exactly one firing and one resolved
// notice, the firing within the lease time + 5 s of the kill.
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfluxStore } from '../hub/store/influx/index.ts';
import { startHaproxy, type HaproxyHandle } from './support/haproxy.ts';
import { eventually, spawnHub, tempDir, type HubProcess } from './support/hub.ts';
import { freePort } from './support/influxd.ts';
import { startFleet } from './support/load.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

const NODES = ['hub-1', 'hub-2', 'hub-3'];
const DEVICES = 60;
const PER_DEVICE = 150;
const LEASE_MS = 2000;

interface Node {
  name: string;
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  process?: HubProcess;
}
interface Notice {
  event: string;
  alert: { key: string };
}

describe('three hubs behind HAProxy', () => {
  const influxUrl = `${inject('influxUrl')}/cluster_${Date.now()}`;
  const store = new InfluxStore({ url: influxUrl });
  let redis: RedisHandle;
  let lb: HaproxyHandle;
  let receiver: Server;
  const notices: Array<{ at: number; delivery: string; notice: Notice }> = [];
  const nodes: Node[] = [];
  let config: Record<string, unknown>;

  const start = async (node: Node) => {
    node.process = await spawnHub(node.dataDir, {
      influxUrl,
      config,
      httpPort: node.httpPort,
      mqttPort: node.mqttPort,
      logLevel: 'warn',
      env: { FLOORWATCH_REDIS_URL: redis.url, FLOORWATCH_NODE_ID: node.name },
    });
  };
  const kill = async (node: Node) => {
    node.process!.child.kill('SIGKILL');
    expect((await node.process!.exited).signal).toBe('SIGKILL');
  };
  const leader = async (): Promise<Node> => {
    const name = await eventually(
      async () => {
        for (const n of nodes) {
          if (n.process?.child.exitCode !== null) continue;
          const health = (await (await fetch(`${n.process.url}/api/v1/health`)).json()) as {
            checks: { cluster: { leader: string | null } };
          };
          if (health.checks.cluster.leader) return health.checks.cluster.leader;
        }
        return undefined;
      },
      { what: 'a rules leader', timeoutMs: 15_000 },
    );
    return nodes.find((n) => n.name === name)!;
  };

  beforeAll(async () => {
    redis = await startRedis();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        notices.push({
          at: Date.now(),
          delivery: String(req.headers['x-floorwatch-delivery']),
          notice: JSON.parse(body) as Notice,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    const hook = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
    config = {
      zones: [{ id: 'server-room', type: 'server_room', rules: { temperature: { for: '0s', keep_firing_for: '0s' } } }],
      devices: [{ id: 't-rack', kind: 'sensor', zone: 'server-room' }],
      // The fleet's encoded values are not air: no CO₂ alerts.
      rules: { overrides: { co2: { enabled: false } } },
      notify: { webhooks: [{ url: hook, secret: 'a-secret-for-the-cluster-process-tests' }] },
      cluster: { lease_ms: LEASE_MS },
    };
    for (const name of NODES)
      nodes.push({
        name,
        dataDir: tempDir(`floorwatch-${name}-`),
        httpPort: await freePort(),
        mqttPort: await freePort(),
      });
    await Promise.all(nodes.map(start));
    lb = await startHaproxy(nodes.map((n) => ({ name: n.name, mqttPort: n.mqttPort, httpPort: n.httpPort })));
  });
  afterAll(async () => {
    for (const n of nodes) {
      if (n.process && n.process.child.exitCode === null) {
        n.process.child.kill('SIGTERM');
        await n.process.exited;
      }
      rmSync(n.dataDir, { recursive: true, force: true });
    }
    await lb?.dispose();
    await redis?.dispose();
    await new Promise((resolve) => receiver?.close(resolve));
    await store.close();
  });

  it('keeps every acknowledged reading and alerts once across the loss of the leader and of another hub', async () => {
    const first = await leader();
    const baseTs = Math.floor(Date.now() / 1000) * 1000 - PER_DEVICE * 1000;
    const fleet = startFleet({
      url: lb.mqttUrl,
      devices: DEVICES,
      readingsPerDevice: PER_DEVICE,
      window: 1,
      baseTs,
      intervalMs: 50,
    });
    await fleet.ackedAtLeast(DEVICES * PER_DEVICE * 0.2);

    // The rack sensor, on a hub that keeps running, reports an overheating rack; the leader dies.
    const other = nodes.find((n) => n !== first)!;
    const rack = await mqtt.connectAsync(`mqtt://127.0.0.1:${other.mqttPort}`, { clientId: 't-rack' });
    await rack.publishAsync('floorwatch/devices/t-rack/telemetry', JSON.stringify({ temperature: 33 }), { qos: 1 });
    const killedAt = Date.now();
    await kill(first);
    const firing = await eventually(
      () => notices.find((n) => n.notice.event === 'firing' && n.notice.alert.key.includes('t-rack')),
      {
        what: 'the firing notice',
        timeoutMs: LEASE_MS + 10_000,
      },
    );
    expect(firing.at - killedAt).toBeLessThan(LEASE_MS + 5000);
    await start(first);

    // Later, another hub dies mid-stream, while the rack cools down.
    await fleet.ackedAtLeast(DEVICES * PER_DEVICE * 0.6);
    const second = nodes.find((n) => n !== first && n !== other)!;
    await rack.publishAsync('floorwatch/devices/t-rack/telemetry', JSON.stringify({ temperature: 22 }), { qos: 1 });
    await kill(second);
    await eventually(
      () => notices.some((n) => n.notice.event === 'resolved' && n.notice.alert.key.includes('t-rack')),
      {
        what: 'the resolved notice',
        timeoutMs: LEASE_MS + 10_000,
      },
    );
    await start(second);
    await rack.endAsync();

    await fleet.done;
    await fleet.stop();
    expect(fleet.acked()).toBe(DEVICES * PER_DEVICE);
    const window = { from: baseTs, to: baseTs + PER_DEVICE * 1000 };
    await eventually(async () => (await store.count({ metric: 'co2', ...window })) === DEVICES * PER_DEVICE, {
      what: 'every acknowledged reading in InfluxDB',
      timeoutMs: 30_000,
    });
    for (const d of [0, 29, 59])
      expect(await store.count({ device: fleet.deviceId(d), metric: 'co2', ...window })).toBe(PER_DEVICE);

    const rackNotices = notices.filter((n) => n.notice.alert.key.includes('t-rack')).map((n) => n.notice.event);
    expect(rackNotices.filter((e) => e === 'firing')).toHaveLength(1);
    expect(rackNotices.filter((e) => e === 'resolved')).toHaveLength(1);
  });
});
