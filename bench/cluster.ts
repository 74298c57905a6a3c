// The cluster scenario: one hub node against three behind HAProxy, all on one Redis and one
// InfluxDB, with the same QoS 1 load; then how long the rules take to go on after the leader is
// killed. On a small machine three nodes share the same cores as one, so they cannot be faster:
// the figure that carries over to bigger machines is the CPU each node spends per reading.
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import type { LoadOptions } from '../sensors-firmware-sim/load.ts';
import { startHaproxy } from '../tests/support/haproxy.ts';
import { eventually, spawnHub, tempDir, type HubProcess } from '../tests/support/hub.ts';
import { startRedis, type RedisHandle } from '../tests/support/redis.ts';
import { builtHub, type BrokerProcess } from './services.ts';

interface Measured {
  messagesPerSecond: number;
  storedReadingsPerSecond?: number;
  cpuPerStoredReading?: { total: number; processes: Record<string, number> };
}

export interface ClusterBench {
  freshDatabase: () => string;
  throughput: (
    broker: BrokerProcess,
    load: Omit<LoadOptions, 'url' | 'onConnected'>,
    storage: { influxUrl: string; between?: Record<string, number> },
  ) => Promise<Measured>;
  env: Record<string, string>;
  say: (text: string) => void;
  rows: Array<{ scenario: string; figure: string; value: string; ratio?: string }>;
  results: Record<string, unknown>;
}

const LOAD = { devices: 50, messages: 600, window: 8, rate: 0, format: 'json' as const, batch: 1, durationMs: 120_000 };
const RACK = 'bench-rack';
const CONFIG = {
  zones: [{ id: 'server-room', type: 'server_room', rules: { temperature: { for: '0s', keep_firing_for: '0s' } } }],
  devices: [{ id: RACK, kind: 'sensor', zone: 'server-room' }],
  // The load's encoded values are not air: no CO₂ alerts.
  rules: { overrides: { co2: { enabled: false } } },
};

async function nodes(count: number, influxUrl: string, redis: RedisHandle, env: Record<string, string>) {
  const started: Array<{ name: string; dir: string; hub: HubProcess }> = [];
  for (let i = 1; i <= count; i++) {
    const dir = tempDir(`floorwatch-bench-node-${i}-`);
    const hub = await spawnHub(dir, {
      command: await builtHub(),
      influxUrl,
      config: CONFIG,
      logLevel: 'warn',
      env: { ...env, FLOORWATCH_REDIS_URL: redis.url, FLOORWATCH_NODE_ID: `node-${i}` },
    });
    started.push({ name: `node-${i}`, dir, hub });
  }
  return started;
}

async function leaderOf(list: Array<{ name: string; hub: HubProcess }>): Promise<string> {
  return eventually(
    async () => {
      const health = (await (await fetch(`${list[0]!.hub.url}/api/v1/health`)).json()) as {
        checks: { cluster: { leader: string | null } };
      };
      return health.checks.cluster.leader ?? undefined;
    },
    { what: 'a rules leader', timeoutMs: 20_000 },
  );
}

/** Leader killed → the next alert transition announced on MQTT, in ms. */
async function failover(list: Array<{ name: string; hub: HubProcess }>): Promise<number> {
  const leader = await leaderOf(list);
  const other = list.find((n) => n.name !== leader)!;
  const watch = await mqtt.connectAsync(other.hub.mqttUrl, { clientId: 'bench-watch' });
  const events: string[] = [];
  watch.on('message', (_topic, payload) => {
    if (payload.length > 0) events.push((JSON.parse(payload.toString()) as { event: string }).event);
  });
  await watch.subscribeAsync(`floorwatch/alerts/server-room/#`, { qos: 1 });
  const rack = await mqtt.connectAsync(other.hub.mqttUrl, { clientId: RACK });
  const send = (temperature: number) =>
    rack.publishAsync(`floorwatch/devices/${RACK}/telemetry`, JSON.stringify({ temperature }), { qos: 1 });
  await send(33);
  await eventually(() => events.includes('firing'), { what: 'the rack alert' });
  const killedAt = performance.now();
  list.find((n) => n.name === leader)!.hub.child.kill('SIGKILL');
  await send(22);
  await eventually(() => events.includes('resolved'), { what: 'the resolution after the kill', timeoutMs: 60_000 });
  const ms = Math.round(performance.now() - killedAt);
  await rack.endAsync();
  await watch.endAsync();
  return ms;
}

const RETAINED = 20_000;

/** Publishes RETAINED retained messages, then times a new `#` subscriber receiving them all. */
async function retained(url: string): Promise<{ publishMs: number; deliverMs: number }> {
  const publisher = await mqtt.connectAsync(url, { clientId: 'bench-retain' });
  const payload = 'x'.repeat(100);
  let started = performance.now();
  for (let i = 0; i < RETAINED; i += 500)
    await Promise.all(
      Array.from({ length: Math.min(500, RETAINED - i) }, (_, j) =>
        publisher.publishAsync(`bench/retained/${i + j}`, payload, { qos: 1, retain: true }),
      ),
    );
  const publishMs = Math.round(performance.now() - started);
  await publisher.endAsync();
  const subscriber = await mqtt.connectAsync(url, { clientId: 'bench-retained-reader' });
  let got = 0;
  const all = new Promise<void>((resolve) =>
    subscriber.on('message', () => {
      if (++got === RETAINED) resolve();
    }),
  );
  started = performance.now();
  await subscriber.subscribeAsync('bench/retained/#', { qos: 0 });
  await all;
  const deliverMs = Math.round(performance.now() - started);
  await subscriber.endAsync();
  return { publishMs, deliverMs };
}

async function redisMemory(redis: RedisHandle): Promise<number> {
  const probe = new Redis(redis.url);
  const info = await probe.info('memory');
  probe.disconnect();
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

export async function scenarioCluster(bench: ClusterBench): Promise<void> {
  const { say, rows, results } = bench;
  const figures: Record<string, unknown> = {};
  for (const count of [1, 3]) {
    say(`cluster of ${count} hub${count > 1 ? 's' : ''} on Redis, 50 devices × 600 QoS 1 messages…`);
    const redis = await startRedis();
    const influxUrl = bench.freshDatabase();
    const list = await nodes(count, influxUrl, redis, bench.env);
    const lb =
      count > 1
        ? await startHaproxy(list.map((n) => ({ name: n.name, mqttPort: n.hub.mqttPort, httpPort: n.hub.httpPort })))
        : undefined;
    try {
      await leaderOf(list);
      const front: BrokerProcess = lb
        ? { name: 'haproxy', url: lb.mqttUrl, pid: lb.pid, stop: () => Promise.resolve() }
        : { name: 'hub', url: list[0]!.hub.mqttUrl, pid: list[0]!.hub.child.pid!, stop: () => Promise.resolve() };
      const between: Record<string, number> = { redis: redis.pid! };
      if (lb) for (const n of list) between[n.name] = n.hub.child.pid!;
      const measured = await bench.throughput(front, LOAD, { influxUrl, between });
      const processes = measured.cpuPerStoredReading?.processes ?? {};
      const hubCpu = lb ? list.reduce((sum, n) => sum + (processes[n.name] ?? 0), 0) : (processes.broker ?? 0);
      let kept: Record<string, number> | undefined;
      if (count === 1) {
        // aedes-persistence-redis keeps retained messages in one Redis hash; a wildcard subscribe scans it.
        const before = await redisMemory(redis);
        const timing = await retained(list[0]!.hub.mqttUrl);
        kept = { ...timing, redisBytesPerRetained: Math.round(((await redisMemory(redis)) - before) / RETAINED) };
      }
      const failoverMs = count > 1 ? await failover(list) : undefined;
      figures[`nodes_${count}`] = {
        storedReadingsPerSecond: measured.storedReadingsPerSecond,
        hubCpuMicrosecondsPerReading: Math.round(hubCpu * 10) / 10,
        processes,
        ...(failoverMs !== undefined && { failoverMs }),
        ...(kept && { retained: kept }),
      };
      rows.push({
        scenario: count === 1 ? 'cluster (Redis)' : '',
        figure: `${count} node${count > 1 ? 's' : ''}: readings/s stored`,
        value: String(measured.storedReadingsPerSecond),
        ratio: `hubs' CPU µs/reading ${Math.round(hubCpu)} (all nodes); Redis ${processes.redis ?? '?'}${lb ? `; HAProxy ${processes.broker ?? '?'}` : ''}`,
      });
      if (kept)
        rows.push({
          scenario: '',
          figure: `${RETAINED.toLocaleString('en')} retained: publish / \`#\` receives all`,
          value: `${kept.publishMs} / ${kept.deliverMs} ms`,
          ratio: `Redis ${kept.redisBytesPerRetained} bytes per retained message`,
        });
      if (failoverMs !== undefined)
        rows.push({
          scenario: '',
          figure: 'failover: leader killed → next transition',
          value: `${failoverMs} ms`,
          ratio: 'lease 5 s (cluster.lease_ms)',
        });
    } finally {
      for (const n of list) {
        if (n.hub.child.exitCode === null && n.hub.child.signalCode === null) {
          n.hub.child.kill('SIGTERM');
          await n.hub.exited;
        }
        rmSync(n.dir, { recursive: true, force: true });
      }
      await lb?.dispose();
      await redis.dispose();
    }
  }
  // The same retained load on a hub alone, whose broker keeps retained messages in memory.
  const dir = tempDir('floorwatch-bench-alone-');
  const alone = await spawnHub(dir, {
    command: await builtHub(),
    logLevel: 'warn',
    env: bench.env,
  });
  try {
    const timing = await retained(alone.mqttUrl);
    const inCluster = (figures.nodes_1 as { retained?: { deliverMs: number } }).retained;
    figures.retainedAlone = timing;
    rows.push({
      scenario: '',
      figure: 'the same on a hub alone (in memory)',
      value: `${timing.publishMs} / ${timing.deliverMs} ms`,
      ratio: inCluster
        ? `the cluster's \`#\` takes ${(inCluster.deliverMs / timing.deliverMs).toFixed(1)}× as long`
        : '',
    });
  } finally {
    alone.child.kill('SIGTERM');
    await alone.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  const one = figures.nodes_1 as { storedReadingsPerSecond?: number };
  const three = figures.nodes_3 as { storedReadingsPerSecond?: number };
  if (one.storedReadingsPerSecond && three.storedReadingsPerSecond)
    rows.push({
      scenario: '',
      figure: '3 nodes against 1',
      value: `${(three.storedReadingsPerSecond / one.storedReadingsPerSecond).toFixed(2)}×`,
      ratio: 'same cores shared by three: scaling shows on machines with a core per node',
    });
  results.cluster = figures;
}
