// `npm run bench`: the hub side by side with bare Aedes, Mosquitto and raw InfluxDB writes, all on
// 127.0.0.1 and driven by the simulator's load mode. Every scenario is bounded in count and time.
// Prints one table of ratios and writes bench/results/<date>-node<major>.json.
//
//   npm run bench [-- --only throughput,senml,latency,fleet,journal,overload,pipeline,cluster] [--profile]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { runLoad, type LoadOptions, type LoadReport, type Percentiles } from '../sensors-firmware-sim/load.ts';
import { startInfluxd } from '../tests/support/influxd.ts';
import { countUntil, createDatabase, rawInfluxWrite, waitForCount, type StoredCount } from './influx-raw.ts';
import { cpuShare, sampleProcess } from './process-stats.ts';
import {
  NODE_RED_INSTALL,
  nodeRedInstalled,
  startBareAedes,
  startHub,
  startMosquitto,
  startNodeRed,
  type BrokerProcess,
} from './services.ts';
import { flood } from './flood.ts';
import { runQos1Load } from '../tests/support/qos1-load.ts';
import { scenarioCluster } from './cluster.ts';
import { histogramPercentiles, scrapeHistogram, subtractHistogram } from './prometheus.ts';
import mqtt from 'mqtt';
import { percentiles } from '../sensors-firmware-sim/load.ts';

const SCENARIOS = ['throughput', 'senml', 'latency', 'fleet', 'journal', 'overload', 'pipeline', 'cluster'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values: flags } = parseArgs({
  options: { only: { type: 'string' }, profile: { type: 'boolean', default: false } },
});
const only = new Set((flags.only?.split(',') ?? SCENARIOS) as Scenario[]);
for (const name of only)
  if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const say = (text: string) => process.stdout.write(`${text}\n`);
const rows: Array<{ scenario: string; figure: string; value: string; ratio?: string }> = [];
const results: Record<string, unknown> = {};
const round = (n: number, digits = 0) => Number(n.toFixed(digits));
/** The middle one of an odd number of runs, by the figure given. */
const medianBy = <T>(runs: readonly T[], figure: (run: T) => number): T =>
  [...runs].sort((a, b) => figure(a) - figure(b))[Math.floor(runs.length / 2)]!;
const medianOf = (values: readonly number[]): number => medianBy(values, (v) => v);

const influxd = await startInfluxd();
let databases = 0;
const freshDatabase = () => `${influxd.url}/bench_${++databases}`;
const profileDir = join(import.meta.dirname, 'results', 'profiles');

async function withBroker<T>(
  start: () => Promise<BrokerProcess>,
  use: (broker: BrokerProcess) => Promise<T>,
): Promise<T> {
  const broker = await start();
  try {
    return await use(broker);
  } finally {
    await broker.stop();
  }
}

/**
 * A device's default rate limit (200 msg/s after a burst of 2,000) would acknowledge and drop what
 * the load generator sends flat out, so the bench lifts it: the hub stores every message here.
 */
const UNLIMITED_RATE = {
  FLOORWATCH_LIMITS__MESSAGES_PER_SECOND: '1000000',
  FLOORWATCH_LIMITS__MESSAGE_BURST: '1000000',
};

/** The hub on InfluxDB, or on its embedded SQLite store when `influxUrl` is undefined. */
function hubOptions(influxUrl: string | undefined, extraEnv: Record<string, string> = {}) {
  const env = { ...UNLIMITED_RATE, ...extraEnv };
  const store = influxUrl === undefined ? {} : { influxUrl };
  if (!flags.profile) return { ...store, env };
  mkdirSync(profileDir, { recursive: true });
  return { ...store, env, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] };
}

/** Where a broker's readings end up in InfluxDB, and what else works on the way there. */
interface Storage {
  influxUrl: string;
  /** Processes between the broker and InfluxDB whose CPU counts too, by name. */
  between?: Record<string, number>;
  /** Points of co2 the database held before the load. */
  already?: number;
  /**
   * For a pipeline that may drop readings: once its count has not grown for this long, report
   * what was stored instead of failing.
   */
  stallMs?: number;
}

/** The 50-device QoS 1 load: 100,000 messages, so warming up is a small part of every figure. */
const FIFTY_DEVICES_QOS1 = {
  devices: 50,
  messages: 2000,
  window: 8,
  rate: 0,
  format: 'json' as const,
  batch: 1,
  durationMs: 120_000,
};

/**
 * The whole-pipeline load: 50 devices, 8,000 messages each, so each side runs for 10–30 s. A
 * pipeline under this load for longer than a few seconds is what a site runs: the peer
 * acknowledges about twice as fast as it stores, and what it holds meanwhile costs it as it grows.
 */
const PIPELINE_LOAD = { ...FIFTY_DEVICES_QOS1, messages: 8000 };
/** The whole-pipeline comparison runs each side this many times, in turn; medians are reported. */
const PIPELINE_ROUNDS = 3;

interface Throughput {
  report: LoadReport;
  messagesPerSecond: number;
  /** With storage: readings stored, and at what rate from the first message until the count was reached. */
  storedReadings?: number;
  storedReadingsPerSecond?: number;
  /**
   * CPU time per acknowledged message, µs, from the first message until all were acknowledged
   * (and, with storage, stored): each process's, the load generator's (this process) among them.
   */
  cpuMicroseconds: { broker: number; load: number; influxd?: number; between?: Record<string, number> };
  /** With storage: CPU µs per reading stored, of the broker, InfluxDB and everything between, and their sum. */
  cpuPerStoredReading?: { total: number; processes: Record<string, number> };
}

/** Runs one load against a broker; with storage also waits until InfluxDB holds every reading. */
async function throughput(
  broker: BrokerProcess,
  load: Omit<LoadOptions, 'url' | 'onConnected'>,
  storage?: Storage,
  generator: (options: LoadOptions) => Promise<LoadReport> = runLoad,
): Promise<Throughput> {
  const pids: Record<string, number> = {
    broker: broker.pid,
    ...(storage && influxd.pid !== undefined && { influxd: influxd.pid }),
    ...storage?.between,
  };
  const sampleAll = () => new Map(Object.entries(pids).map(([name, pid]) => [name, sampleProcess(pid).cpuSeconds]));
  let sendStarted = 0;
  let before: { cpuSeconds: Map<string, number>; load: NodeJS.CpuUsage } | undefined;
  const report = await generator({
    ...load,
    url: broker.url,
    onConnected: () => {
      before = { cpuSeconds: sampleAll(), load: process.cpuUsage() };
      sendStarted = performance.now();
    },
  });
  if (report.messagesAcked !== report.messagesSent)
    throw new Error(`${broker.name}: ${report.messagesAcked} of ${report.messagesSent} messages acknowledged`);
  let stored: StoredCount | undefined;
  if (storage) {
    const expected = (storage.already ?? 0) + report.readingsAcked;
    stored = await countUntil(storage.influxUrl, 'co2', expected, {
      timeoutMs: 120_000,
      ...(storage.stallMs !== undefined && { stallMs: storage.stallMs }),
    });
    if (stored.count < expected && storage.stallMs === undefined)
      throw new Error(`${broker.name}: InfluxDB holds ${stored.count} of ${expected} readings after 120 s`);
  }
  if (!before) throw new Error(`${broker.name}: the load never started`);
  const start = before.cpuSeconds;
  const used = new Map([...sampleAll()].map(([name, seconds]) => [name, seconds - (start.get(name) ?? seconds)]));
  const perMessage = (seconds: number) => round((seconds * 1e6) / report.messagesAcked, 1);
  const loadCpu = process.cpuUsage(before.load);
  const between = Object.keys(storage?.between ?? {});
  const influxdSeconds = used.get('influxd');
  const cpuMicroseconds: Throughput['cpuMicroseconds'] = {
    broker: perMessage(used.get('broker') ?? 0),
    load: perMessage((loadCpu.user + loadCpu.system) / 1e6),
    ...(influxdSeconds !== undefined && { influxd: perMessage(influxdSeconds) }),
    ...(between.length > 0 && {
      between: Object.fromEntries(between.map((name) => [name, perMessage(used.get(name) ?? 0)])),
    }),
  };
  const result: Throughput = {
    report,
    messagesPerSecond: round((report.messagesAcked * 1000) / report.elapsedMs),
    cpuMicroseconds,
  };
  if (stored) {
    const readings = stored.count - (storage?.already ?? 0);
    if (readings <= 0) throw new Error(`${broker.name}: no reading reached InfluxDB`);
    const perReading = (seconds: number) => round((seconds * 1e6) / readings, 1);
    result.storedReadings = readings;
    result.storedReadingsPerSecond = round((readings * 1000) / (stored.at - sendStarted));
    result.cpuPerStoredReading = {
      total: perReading([...used.values()].reduce((sum, seconds) => sum + seconds, 0)),
      processes: Object.fromEntries([...used].map(([name, seconds]) => [name, perReading(seconds)])),
    };
  }
  return result;
}

async function scenarioThroughput(): Promise<void> {
  // 100,000 messages each, so warming up is a small part of every figure.
  for (const [devices, messages, window] of [
    [50, 2000, 8],
    [500, 200, 4],
  ] as const) {
    const load = { devices, messages, window, rate: 0, format: 'json' as const, batch: 1, durationMs: 120_000 };
    say(`QoS 1 throughput, ${devices} devices × ${messages} messages…`);
    const mosquitto = await withBroker(startMosquitto, (b) => throughput(b, load));
    const aedes = await withBroker(startBareAedes, (b) => throughput(b, load));
    const influxUrl = freshDatabase();
    const hub = await withBroker(
      () => startHub(hubOptions(influxUrl)),
      (b) => throughput(b, load, { influxUrl }),
    );
    results[`throughput_${devices}`] = {
      mosquitto: mosquitto.messagesPerSecond,
      aedes: aedes.messagesPerSecond,
      hub: hub.messagesPerSecond,
      hubStored: hub.storedReadingsPerSecond,
      cpuMicrosecondsPerMessage: {
        mosquitto: mosquitto.cpuMicroseconds,
        aedes: aedes.cpuMicroseconds,
        hub: hub.cpuMicroseconds,
      },
    };
    const cpu = hub.cpuMicroseconds;
    const loads = [mosquitto, aedes, hub].map((t) => t.cpuMicroseconds.load);
    const loadRange = `${Math.min(...loads)}–${Math.max(...loads)}`;
    rows.push(
      { scenario: `QoS 1, ${devices} devices`, figure: 'Mosquitto msg/s', value: String(mosquitto.messagesPerSecond) },
      { scenario: '', figure: 'bare Aedes msg/s', value: String(aedes.messagesPerSecond) },
      {
        scenario: '',
        figure: 'hub msg/s acknowledged',
        value: String(hub.messagesPerSecond),
        ratio: `${(hub.messagesPerSecond / aedes.messagesPerSecond).toFixed(2)}× Aedes (target ≥ 0.8), ${(hub.messagesPerSecond / mosquitto.messagesPerSecond).toFixed(2)}× Mosquitto`,
      },
      { scenario: '', figure: 'hub readings/s stored in InfluxDB', value: String(hub.storedReadingsPerSecond) },
      {
        scenario: '',
        figure: 'broker CPU µs/msg: Mosquitto / Aedes / hub',
        value: `${mosquitto.cpuMicroseconds.broker} / ${aedes.cpuMicroseconds.broker} / ${cpu.broker}`,
        ratio: `hub ${(cpu.broker / aedes.cpuMicroseconds.broker).toFixed(1)}× Aedes; + InfluxDB ${cpu.influxd ?? '?'}; load generator ${loadRange}`,
      },
    );
  }
}

async function scenarioSenml(): Promise<void> {
  say('SenML batches of 10 readings, 50 devices × 400 messages…');
  const load = {
    devices: 50,
    messages: 400,
    window: 8,
    rate: 0,
    format: 'senml' as const,
    batch: 10,
    durationMs: 120_000,
  };
  const mosquittoJson = await withBroker(startMosquitto, (b) =>
    throughput(b, { ...load, format: 'json', messages: 2000 }),
  );
  const influxUrl = freshDatabase();
  const hub = await withBroker(
    () => startHub(hubOptions(influxUrl)),
    (b) => throughput(b, load, { influxUrl }),
  );
  const raw = await rawInfluxWrite(freshDatabase(), 200_000);
  const rawPerSecond = round(raw.points / raw.seconds);
  const stored = hub.storedReadingsPerSecond ?? 0;
  results.senml = {
    hubStoredReadingsPerSecond: stored,
    mosquittoMessagesPerSecond: mosquittoJson.messagesPerSecond,
    rawInfluxPointsPerSecond: rawPerSecond,
  };
  rows.push(
    {
      scenario: 'SenML × 10, 50 devices',
      figure: 'hub readings/s stored',
      value: String(stored),
      ratio: `${(stored / mosquittoJson.messagesPerSecond).toFixed(2)}× Mosquitto msg/s (target ≥ 1.0)`,
    },
    {
      scenario: '',
      figure: 'raw InfluxDB line protocol points/s',
      value: String(rawPerSecond),
      ratio: `hub at ${(stored / rawPerSecond).toFixed(2)}× the storage ceiling`,
    },
  );
}

async function scenarioLatency(): Promise<void> {
  say('Latency at a steady 1,000 msg/s for 15 s…');
  const influxUrl = freshDatabase();
  await withBroker(
    () => startHub(hubOptions(influxUrl)),
    async (hub) => {
      const metricsUrl = `${hub.httpUrl}/metrics`;
      const before = await scrapeHistogram(metricsUrl, 'floorwatch_reading_age_at_store_seconds');
      const loadRun = runLoad({
        url: hub.url,
        devices: 50,
        rate: 20,
        messages: 300,
        window: 8,
        format: 'json',
        batch: 1,
        durationMs: 30_000,
        timestamps: 'publish',
        latencies: true,
      });
      const { samples: alertMs, missed } = await probeAlerts(hub.url, 100);
      if (missed > 0) throw new Error(`${missed} of 100 probe alerts did not arrive within 10 s`);
      const report = await loadRun;
      await waitForCount(influxUrl, 'co2', report.readingsAcked, 60_000);
      const stored = histogramPercentiles(
        subtractHistogram(await scrapeHistogram(metricsUrl, 'floorwatch_reading_age_at_store_seconds'), before),
      );
      const ack = report.ackLatencyMs as Percentiles;
      const alert = percentiles(alertMs);
      results.latency = {
        messagesPerSecond: round((report.messagesAcked * 1000) / report.elapsedMs),
        publishToAckMs: ack,
        publishToStoredMs: stored,
        publishToAlertMs: alert,
      };
      rows.push(
        {
          scenario: 'steady 1,000 msg/s',
          figure: 'publish → PUBACK (journal fsync) ms',
          value: `p50 ${ack.p50.toFixed(1)} / p99 ${ack.p99.toFixed(1)} / max ${ack.max.toFixed(1)}`,
        },
        {
          scenario: '',
          figure: 'publish → stored in InfluxDB ms',
          value: `p50 ≤ ${stored.p50} / p99 ≤ ${stored.p99} / max ≤ ${stored.max}`,
          ratio: 'histogram bucket bounds',
        },
        {
          scenario: '',
          figure: 'publish → alert on MQTT ms',
          value: `p50 ${alert.p50.toFixed(1)} / p99 ${alert.p99.toFixed(1)} / max ${alert.max.toFixed(1)}`,
          ratio: 'target p99 ≤ 50',
        },
      );
    },
  );
}

/**
 * Publish → alert notification: each probe device sends one noise peak of 140 dB(C), an immediate
 * critical, while another load runs; the time until its retained alert arrives on MQTT. A probe
 * whose alert has not arrived within `timeoutMs` counts as missed.
 */
async function probeAlerts(
  url: string,
  probes: number,
  { intervalMs = 100, timeoutMs = 10_000, prefix = 'probe' } = {},
): Promise<{ samples: number[]; missed: number }> {
  const watcher = await mqtt.connectAsync(url, { clientId: `bench-alert-watcher-${prefix}` });
  const arrived = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  const pattern = new RegExp(`noise_peak\\.(${prefix}-\\d+)$`);
  watcher.on('message', (topic, payload) => {
    const device = pattern.exec(topic)?.[1];
    if (!device || payload.length === 0 || arrived.has(device)) return;
    arrived.set(device, performance.now());
    waiting.get(device)?.();
  });
  await watcher.subscribeAsync('floorwatch/alerts/#', { qos: 1 });
  const probe = await mqtt.connectAsync(url, { clientId: `bench-alert-${prefix}` });
  const samples: number[] = [];
  let missed = 0;
  for (let i = 0; i < probes; i++) {
    const next = sleep(intervalMs);
    const device = `${prefix}-${i}`;
    const seen = new Promise<void>((resolve) => waiting.set(device, resolve));
    const sentAt = performance.now();
    await probe.publishAsync(
      `floorwatch/devices/${device}/telemetry`,
      JSON.stringify({ ts: Date.now(), noise_peak: 140 }),
      { qos: 1 },
    );
    await Promise.race([seen, sleep(timeoutMs)]);
    const at = arrived.get(device);
    if (at === undefined) missed++;
    else samples.push(at - sentAt);
    await next;
  }
  await probe.endAsync();
  await watcher.endAsync();
  return { samples, missed };
}

async function scenarioFleet(): Promise<void> {
  const devices = 10_000;
  say(`${devices} devices heartbeating every 30 s…`);
  const influxUrl = freshDatabase();
  // The default connection limit (5,000) protects a small site; this scenario is about more.
  await withBroker(
    () => startHub(hubOptions(influxUrl, { FLOORWATCH_LIMITS__MAX_CONNECTIONS: String(devices + 100) })),
    async (hub) => {
      let atRest = 0;
      let connectedRss = 0;
      let peakRss = 0;
      let heartbeatsFrom = sampleProcess(hub.pid);
      const watch = setInterval(() => (peakRss = Math.max(peakRss, sampleProcess(hub.pid).rssBytes)), 1000);
      const report = await runLoad({
        url: hub.url,
        devices,
        rate: 1 / 30,
        messages: 2,
        window: 1,
        format: 'heartbeat',
        batch: 1,
        durationMs: 45_000,
        idPrefix: 'hb-',
        onConnected: async (connected) => {
          if (connected < devices) throw new Error(`only ${connected} of ${devices} devices could connect`);
          const rest = sampleProcess(hub.pid);
          connectedRss = rest.rssBytes;
          await sleep(10_000);
          heartbeatsFrom = sampleProcess(hub.pid);
          atRest = cpuShare(rest, heartbeatsFrom);
        },
      });
      const underLoad = cpuShare(heartbeatsFrom, sampleProcess(hub.pid));
      clearInterval(watch);
      peakRss = Math.max(peakRss, connectedRss);
      const mb = (bytes: number) => round(bytes / 1024 / 1024);
      results.fleet = {
        devices,
        connected: report.connected,
        connectSeconds: round(report.connectMs / 1000, 1),
        rssMbConnected: mb(connectedRss),
        rssMbPeak: mb(peakRss),
        cpuAtRest: round(atRest, 3),
        cpuUnderHeartbeats: round(underLoad, 3),
        heartbeatsAcked: report.messagesAcked,
      };
      rows.push(
        {
          scenario: `${devices} devices, heartbeat / 30 s`,
          figure: 'time to connect all',
          value: `${(report.connectMs / 1000).toFixed(1)} s`,
          ratio: `${report.connected} connected`,
        },
        {
          scenario: '',
          figure: 'hub RSS (connected / peak)',
          value: `${mb(connectedRss)} / ${mb(peakRss)} MB`,
          ratio: 'target ≤ 400 MB',
        },
        {
          scenario: '',
          figure: 'hub CPU at rest / under heartbeats',
          value: `${(atRest * 100).toFixed(1)} % / ${(underLoad * 100).toFixed(1)} % of a core`,
        },
      );
    },
  );
}

async function scenarioJournal(): Promise<void> {
  say("The journal's cost: fsync group commit against no fsync, 50 devices × 2000 messages…");
  const load = FIFTY_DEVICES_QOS1;
  const withFsync = await withBroker(
    () => startHub(hubOptions(freshDatabase())),
    (b) => throughput(b, load),
  );
  const withoutFsync = await withBroker(
    () => startHub(hubOptions(freshDatabase(), { BENCH_NO_JOURNAL_FSYNC: '1' })),
    (b) => throughput(b, load),
  );
  results.journal = {
    fsyncMessagesPerSecond: withFsync.messagesPerSecond,
    noFsyncMessagesPerSecond: withoutFsync.messagesPerSecond,
  };
  rows.push(
    {
      scenario: 'journal',
      figure: 'hub msg/s with fsync group commit',
      value: String(withFsync.messagesPerSecond),
      ratio: `${(withFsync.messagesPerSecond / withoutFsync.messagesPerSecond).toFixed(2)}× without fsync`,
    },
    { scenario: '', figure: 'hub msg/s without fsync (bench only)', value: String(withoutFsync.messagesPerSecond) },
  );
}

interface OverloadResult {
  floodClients: number;
  floodMessagesWritten: number;
  /** Flooding clients the broker disconnected before the flood ended. */
  floodClosedByBroker: number;
  probePubackMs: Percentiles;
  probesUnacknowledged: number;
  rssMb: { start: number; peak: number };
  alerts?: { p50: number; max: number; missed: number };
  /** After the flood ended: when the journal stopped growing, and when the rules had handled everything. */
  journalSettledMs?: number;
  rulesCaughtUpMs?: number;
  /** Most the rules were behind the journal, as the hub reports it (sampled every 250 ms). */
  rulesBehindMaxMs?: number;
  /** The hub's journal writes during the flood, from their start until the hub's thread sees them on disk, ms (histogram bucket bounds). */
  journalFlushMs?: { p50: number; p99: number; max: number };
}

interface HealthJournal {
  checks: { journal: { durableLsn: number; consumers: Array<{ name: string; behindMs?: number }> } };
}

/**
 * The flood the hub must survive: 200 clients writing QoS 0 readings flat out for 20 s, while one
 * device publishes a QoS 1 reading every 100 ms and, on the hub, another raises a noise-peak
 * alert every second. Peers get the same flood and probe.
 */
async function overload(broker: BrokerProcess): Promise<OverloadResult> {
  const FLOOD_MS = 20_000;
  const CLIENTS = 200;
  const { hostname, port } = new URL(broker.url);
  const mb = (bytes: number) => round(bytes / 1024 / 1024);
  const rssStart = sampleProcess(broker.pid).rssBytes;
  let rssPeak = rssStart;
  let rulesBehindMax = 0;
  const health = async (): Promise<HealthJournal | undefined> => {
    if (!broker.httpUrl) return undefined;
    const res = await fetch(`${broker.httpUrl}/api/v1/health`, { signal: AbortSignal.timeout(5000) }).catch(
      () => undefined,
    );
    return res ? ((await res.json()) as HealthJournal) : undefined;
  };
  const rules = (h: HealthJournal | undefined) => h?.checks.journal.consumers.find((c) => c.name === 'rules');
  const memory = setInterval(() => (rssPeak = Math.max(rssPeak, sampleProcess(broker.pid).rssBytes)), 200);
  // The hub's journal head and the rules, every 250 ms from the start to the end: when the journal
  // last grew and the rules caught up are read from these samples afterwards.
  const samples: Array<{ at: number; lsn: number; rulesBehindMs: number }> = [];
  const watching = new AbortController();
  const journalWatch = (async () => {
    while (!watching.signal.aborted) {
      const h = await health();
      const r = rules(h);
      if (h && r) {
        rulesBehindMax = Math.max(rulesBehindMax, r.behindMs ?? 0);
        samples.push({ at: performance.now(), lsn: h.checks.journal.durableLsn, rulesBehindMs: r.behindMs ?? 0 });
      }
      await sleep(250);
    }
  })();

  const JOURNAL_FLUSH = 'floorwatch_journal_flush_seconds';
  const flushesBefore = broker.httpUrl ? await scrapeHistogram(`${broker.httpUrl}/metrics`, JOURNAL_FLUSH) : undefined;
  const probe = await mqtt.connectAsync(broker.url, { clientId: 'bench-overload-probe' });
  const acks: number[] = [];
  const pending: Array<Promise<void>> = [];
  const probing = new AbortController();
  const probeLoop = (async () => {
    for (let i = 0; !probing.signal.aborted; i++) {
      const sentAt = performance.now();
      pending.push(
        probe
          .publishAsync(
            'floorwatch/devices/overload-probe/telemetry',
            JSON.stringify({ ts: Date.now(), seq: i, co2: 600 }),
            { qos: 1 },
          )
          .then(() => void acks.push(performance.now() - sentAt)),
      );
      await sleep(100);
    }
  })();
  const alertRun = broker.httpUrl
    ? probeAlerts(broker.url, 20, { intervalMs: 1000, timeoutMs: 30_000, prefix: 'overload-alert' })
    : undefined;

  const report = await flood({
    host: hostname,
    port: Number(port),
    clients: CLIENTS,
    durationMs: FLOOD_MS,
    // The probe alerts come during the flood, so that the journal grows after it only by what the flood left.
    ...(alertRun && { until: alertRun }),
    topic: 'floorwatch/devices/flood-{n}/telemetry',
    clientId: 'flood-{n}',
    payload: '{"co2":612}',
  });
  const floodEnded = performance.now();
  const flushes =
    broker.httpUrl && flushesBefore
      ? subtractHistogram(await scrapeHistogram(`${broker.httpUrl}/metrics`, JOURNAL_FLUSH), flushesBefore)
      : undefined;
  probing.abort();
  await probeLoop;
  await Promise.race([Promise.all(pending), sleep(60_000)]);
  const alerts = alertRun && (await alertRun);

  const result: OverloadResult = {
    floodClients: report.connected,
    floodMessagesWritten: report.messagesWritten,
    floodClosedByBroker: report.closedByBroker,
    probePubackMs: percentiles(acks),
    probesUnacknowledged: pending.length - acks.length,
    rssMb: { start: mb(rssStart), peak: 0 },
  };
  if (flushes && (flushes.get(Infinity) ?? 0) > 0) result.journalFlushMs = histogramPercentiles(flushes);
  if (alerts) {
    const p = percentiles(alerts.samples.length > 0 ? alerts.samples : [Number.NaN]);
    result.alerts = { p50: round(p.p50), max: round(p.max), missed: alerts.missed };
  }
  if (broker.httpUrl) {
    // The journal has settled once it has not grown for 2 s: it settled at the first sample with
    // its final head; the rules caught up at the first sample after that in which they had judged all of it.
    const deadline = performance.now() + 300_000;
    const grewLast = () => samples.findIndex((x) => x.lsn === samples.at(-1)?.lsn);
    while (performance.now() < deadline && (samples.length === 0 || performance.now() - samples[grewLast()]!.at < 2000))
      await sleep(250);
    const settled = samples[grewLast()];
    const caughtUp = samples.slice(grewLast()).find((x) => x.rulesBehindMs === 0);
    if (settled) result.journalSettledMs = round(Math.max(0, settled.at - floodEnded));
    if (caughtUp) result.rulesCaughtUpMs = round(Math.max(0, caughtUp.at - floodEnded));
  }
  watching.abort();
  await journalWatch;
  clearInterval(memory);
  rssPeak = Math.max(rssPeak, sampleProcess(broker.pid).rssBytes);
  result.rssMb.peak = mb(rssPeak);
  if (broker.httpUrl) result.rulesBehindMaxMs = round(rulesBehindMax);
  await probe.endAsync();
  return result;
}

async function scenarioOverload(): Promise<void> {
  say('Overload: 200 clients flooding QoS 0 for 20 s, a QoS 1 probe every 100 ms, a probe alert every second…');
  const mosquitto = await withBroker(startMosquitto, overload);
  const aedes = await withBroker(startBareAedes, overload);
  const hub = await withBroker(() => startHub(hubOptions(undefined)), overload);
  results.overload = { mosquitto, aedes, hub };
  const ack = (r: OverloadResult) =>
    `p50 ${r.probePubackMs.p50.toFixed(0)} / p99 ${r.probePubackMs.p99.toFixed(0)} ms${r.probesUnacknowledged > 0 ? ` (${r.probesUnacknowledged} never acknowledged)` : ''}`;
  const rss = (r: OverloadResult) => `${r.rssMb.start} → ${r.rssMb.peak} MB`;
  rows.push(
    {
      scenario: 'overload: 200 × QoS 0 flood',
      figure: 'probe PUBACK: Mosquitto',
      value: ack(mosquitto),
      ratio: `RSS ${rss(mosquitto)}`,
    },
    { scenario: '', figure: 'probe PUBACK: bare Aedes', value: ack(aedes), ratio: `RSS ${rss(aedes)}` },
    {
      scenario: '',
      figure: 'probe PUBACK: hub',
      value: ack(hub),
      ratio: `target p99 ≤ 250 ms; RSS ${rss(hub)} (target ≤ 400 MB)`,
    },
    {
      scenario: '',
      figure: 'hub: publish → alert on MQTT',
      value: hub.alerts ? `p50 ${hub.alerts.p50} / max ${hub.alerts.max} ms, ${hub.alerts.missed} missed` : '–',
      ratio: 'target: every alert within 2 s',
    },
    {
      scenario: '',
      figure: 'hub: journal write + fsync during the flood',
      value: hub.journalFlushMs
        ? `p50 ≤ ${hub.journalFlushMs.p50} / p99 ≤ ${hub.journalFlushMs.p99} / max ≤ ${hub.journalFlushMs.max} ms`
        : '–',
      ratio: "histogram bucket bounds, until the hub's thread sees it done",
    },
    {
      scenario: '',
      figure: 'hub: rules behind the journal, most',
      value: `${hub.rulesBehindMaxMs ?? '?'} ms`,
      ratio: 'target ≤ 2 s',
    },
    {
      scenario: '',
      figure: 'hub: after the flood, journal settled / rules caught up',
      value: `${hub.journalSettledMs ?? '?'} / ${hub.rulesCaughtUpMs ?? '?'} ms`,
      ratio: 'target: journal within 2 s',
    },
    {
      scenario: '',
      figure: 'flood messages written (Mosquitto / Aedes / hub)',
      value: `${mosquitto.floodMessagesWritten} / ${aedes.floodMessagesWritten} / ${hub.floodMessagesWritten}`,
    },
    {
      scenario: '',
      figure: 'flooders disconnected by the broker (Mosquitto / Aedes / hub)',
      value: `${mosquitto.floodClosedByBroker} / ${aedes.floodClosedByBroker} / ${hub.floodClosedByBroker} of ${hub.floodClients}`,
    },
  );
}

/**
 * The whole path from device to database, against what a site builds without floorwatch:
 * Mosquitto → Node-RED → InfluxDB (bench/node-red/flows.json: MQTT in at QoS 1, a function making
 * points, a join of up to 1000 points or 50 ms, one InfluxDB batch write each). The 50-device QoS 1
 * load of the throughput run, four times as long (PIPELINE_LOAD), sent from raw sockets
 * (tests/support/qos1-load.ts): mqtt.js's CPU on the same cores held both pipelines back. CPU is
 * summed over every process of each pipeline. Node-RED acknowledges on receipt and may fall
 * behind or drop writes, so its count is awaited until it stops growing, and what was stored is
 * what counts.
 */
async function scenarioPipeline(): Promise<void> {
  const scenario = 'pipeline, QoS 1, 50 devices';
  if (!nodeRedInstalled()) {
    say(
      `Pipeline against Mosquitto → Node-RED → InfluxDB: skipped, Node-RED is not installed (run \`${NODE_RED_INSTALL}\`).`,
    );
    results.pipeline = { skipped: `Node-RED is not installed: ${NODE_RED_INSTALL}` };
    rows.push({ scenario, figure: 'skipped: Node-RED is not installed', value: `run ${NODE_RED_INSTALL}` });
    return;
  }
  const load = PIPELINE_LOAD;
  say(
    `Whole pipeline, ${load.devices} devices × ${load.messages} messages: the hub on InfluxDB against Mosquitto → Node-RED → InfluxDB, ${PIPELINE_ROUNDS} rounds each, in turn…`,
  );
  const runHub = async () => {
    const hubUrl = freshDatabase();
    return withBroker(
      () => startHub(hubOptions(hubUrl)),
      (b) => throughput(b, load, { influxUrl: hubUrl }, runQos1Load),
    );
  };
  const runPeer = async () => {
    const peerUrl = freshDatabase();
    await createDatabase(peerUrl);
    return withBroker(startMosquitto, async (mosquitto) => {
      const nodeRed = await startNodeRed(mosquitto.url, peerUrl);
      try {
        // The readiness probe left one point in the database.
        return await throughput(
          mosquitto,
          load,
          {
            influxUrl: peerUrl,
            between: { nodeRed: nodeRed.pid },
            already: 1,
            stallMs: 10_000,
          },
          runQos1Load,
        );
      } finally {
        await nodeRed.stop();
      }
    });
  };
  const hubRuns: Throughput[] = [];
  const peerRuns: Throughput[] = [];
  for (let turn = 0; turn < PIPELINE_ROUNDS; turn++) {
    // Turn about, so that a machine growing busier or quieter during the run favours neither side.
    if (turn % 2 === 0) {
      hubRuns.push(await runHub());
      peerRuns.push(await runPeer());
    } else {
      peerRuns.push(await runPeer());
      hubRuns.push(await runHub());
    }
    const [h, p] = [hubRuns[turn]!, peerRuns[turn]!];
    say(
      `  round ${turn + 1}: ${h.storedReadingsPerSecond ?? 0} / ${p.storedReadingsPerSecond ?? 0} readings/s, ${h.cpuPerStoredReading?.total ?? 0} / ${p.cpuPerStoredReading?.total ?? 0} CPU µs per reading`,
    );
  }
  // Each side's round of median CPU per reading stands for it; the rates are each side's median.
  const hub = medianBy(hubRuns, (t) => t.cpuPerStoredReading?.total ?? 0);
  const peer = medianBy(peerRuns, (t) => t.cpuPerStoredReading?.total ?? 0);
  const hubStored = medianOf(hubRuns.map((t) => t.storedReadingsPerSecond ?? 0));
  const peerStored = medianOf(peerRuns.map((t) => t.storedReadingsPerSecond ?? 0));
  const hubCpu = hub.cpuPerStoredReading ?? { total: 0, processes: {} };
  const peerCpu = peer.cpuPerStoredReading ?? { total: 0, processes: {} };
  const summary = (t: Throughput) => ({
    storedReadings: t.storedReadings,
    storedReadingsPerSecond: t.storedReadingsPerSecond,
    messagesPerSecondAcknowledged: t.messagesPerSecond,
    cpuMicrosecondsPerStoredReading: t.cpuPerStoredReading,
    cpuMicrosecondsPerMessage: t.cpuMicroseconds,
  });
  const rounds = hubRuns.map((h, i) => {
    const p = peerRuns[i]!;
    return {
      readingsPerSecond: ((h.storedReadingsPerSecond ?? 0) / (p.storedReadingsPerSecond || 1)).toFixed(2),
      cpuPerReading: ((h.cpuPerStoredReading?.total ?? 0) / (p.cpuPerStoredReading?.total || 1)).toFixed(2),
    };
  });
  // The load generator runs on the same cores: once a side keeps them all busy, its rate is the
  // cores' time divided by its CPU per reading with the load generator's CPU per message added.
  const cores = os.cpus().length;
  const mostPerSecond = (t: Throughput) =>
    Math.round((cores * 1e6) / ((t.cpuPerStoredReading?.total ?? 0) + t.cpuMicroseconds.load));
  const most = { floorwatch: mostPerSecond(hub), nodeRed: mostPerSecond(peer) };
  results.pipeline = {
    readingsSent: peer.report.readingsSent,
    rounds: { floorwatch: hubRuns.map(summary), nodeRed: peerRuns.map(summary), ratios: rounds },
    medianStoredReadingsPerSecond: { floorwatch: hubStored, nodeRed: peerStored },
    mostReadingsPerSecondTheCoresAllow: { cores, ...most },
    floorwatch: summary(hub),
    nodeRed: summary(peer),
  };
  const parts = (cpu: { processes: Record<string, number> }, names: string[]) =>
    names.map((name) => cpu.processes[name] ?? '?').join(' + ');
  rows.push(
    {
      scenario,
      figure: 'readings stored: floorwatch / peer',
      value: `${hub.storedReadings} / ${peer.storedReadings}`,
      ratio: `of ${peer.report.readingsSent} sent to each`,
    },
    {
      scenario: '',
      figure: `stored readings/s: floorwatch / peer, median of ${PIPELINE_ROUNDS}`,
      value: `${hubStored} / ${peerStored}`,
      ratio: `floorwatch ${(hubStored / peerStored).toFixed(2)}× the peer (target ≥ 1.5)`,
    },
    {
      scenario: '',
      figure: `CPU µs per stored reading: floorwatch / peer, median of ${PIPELINE_ROUNDS}`,
      value: `${hubCpu.total} / ${peerCpu.total}`,
      ratio: `floorwatch ${(hubCpu.total / peerCpu.total).toFixed(2)}× the peer (target ≤ 0.7)`,
    },
    {
      scenario: '',
      figure: 'each round, floorwatch ÷ peer',
      value: rounds.map((r) => `${r.readingsPerSecond}× / ${r.cpuPerReading}×`).join(', '),
      ratio: 'readings/s / CPU per reading',
    },
    { scenario: '', figure: 'floorwatch: hub + InfluxDB', value: parts(hubCpu, ['broker', 'influxd']) },
    {
      scenario: '',
      figure: 'peer: Mosquitto + Node-RED + InfluxDB',
      value: parts(peerCpu, ['broker', 'nodeRed', 'influxd']),
    },
    {
      scenario: '',
      figure: 'load generator: CPU µs per message, floorwatch / peer',
      value: `${hub.cpuMicroseconds.load} / ${peer.cpuMicroseconds.load}`,
      ratio: 'the same load (tests/support/qos1-load.ts), in the bench process',
    },
    {
      scenario: '',
      figure: `most readings/s ${cores} cores allow, load generator included: floorwatch / peer`,
      value: `${most.floorwatch} / ${most.nodeRed}`,
      ratio: `floorwatch at most ${(most.floorwatch / most.nodeRed).toFixed(2)}× the peer on this machine`,
    },
    {
      scenario: '',
      figure: 'msg/s acknowledged: floorwatch / peer',
      value: `${hub.messagesPerSecond} / ${peer.messagesPerSecond}`,
    },
    {
      scenario: '',
      figure: 'floorwatch acknowledges',
      value: "after its journal's fsync",
      ratio: 'and judges every reading against the alert rules',
    },
    {
      scenario: '',
      figure: 'the peer acknowledges',
      value: 'on receipt (Mosquitto, Node-RED)',
      ratio: 'before the InfluxDB write; no journal, no alert rules',
    },
  );
}

const started = Date.now();
try {
  const run: Record<Scenario, () => Promise<void>> = {
    throughput: scenarioThroughput,
    senml: scenarioSenml,
    latency: scenarioLatency,
    fleet: scenarioFleet,
    journal: scenarioJournal,
    overload: scenarioOverload,
    pipeline: scenarioPipeline,
    cluster: () => scenarioCluster({ freshDatabase, throughput, env: UNLIMITED_RATE, say, rows, results }),
  };
  for (const name of SCENARIOS) if (only.has(name)) await run[name]();
} finally {
  await influxd.dispose();
}

const machine = {
  cpus: os.cpus().length,
  model: os.cpus()[0]?.model,
  memoryGb: round(os.totalmem() / 2 ** 30, 1),
  node: process.version,
  platform: `${os.type()} ${os.release()}`,
};
const widths = [28, 44, 36];
say('');
// Every process measured (hub, bare Aedes, load generator) runs on this Node: figures from different Nodes differ.
say(
  `Node ${machine.node}, ${machine.cpus} × ${machine.model ?? 'unknown CPU'}, ${machine.memoryGb} GB, ${machine.platform}`,
);
say(['scenario', 'figure', 'value'].map((h, i) => h.padEnd(widths[i] ?? 0)).join(' ') + ' ratio');
for (const row of rows)
  say([row.scenario, row.figure, row.value].map((c, i) => c.padEnd(widths[i] ?? 0)).join(' ') + ` ${row.ratio ?? ''}`);
// One file per day and Node major version, so runs on two Nodes the same day are both kept.
const file = join(
  import.meta.dirname,
  'results',
  `${new Date().toISOString().slice(0, 10)}-node${process.versions.node.split('.')[0]}.json`,
);
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), machine, durationSeconds: round((Date.now() - started) / 1000), results }, null, 2)}\n`,
);
say(`\nwritten to ${file} (${round((Date.now() - started) / 1000)} s)`);
process.exit(0);
