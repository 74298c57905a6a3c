// `npm start`: the hub on its configuration, until SIGINT or SIGTERM; SIGHUP reloads the configuration.
import { getHeapStatistics } from 'node:v8';
import { ConfigError, loadConfig } from './config/config.ts';
import { startHub } from './hub.ts';

/**
 * libuv's threads serve the journal's writes and fsyncs, and also every DNS lookup (a webhook's,
 * InfluxDB's, a bridge's host) and password hash. Lookups hung on an unreachable DNS server can
 * take all four it has by default, and the journal's fsync, every acknowledgement with it, waits
 * behind them. The pool is sized from the environment before any code of the hub runs, so
 * `npm start` and the Docker image set it; a hub started otherwise says so.
 */
const THREAD_POOL_ADVISED = 16;
const THREAD_POOL_FEWEST = 8;
const THREAD_POOL_MOST = 1024;

function warnOfSmallThreadPool(log: { warn: (message: string) => void }): void {
  // As libuv reads it: unset is four, a value it cannot read (atoi gives 0) is one, and a negative
  // one (read as unsigned) or one past its most is that most.
  const read = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '4', 10) || 1;
  const size = read < 0 || read > THREAD_POOL_MOST ? THREAD_POOL_MOST : read;
  if (size >= THREAD_POOL_FEWEST) return;
  log.warn(
    `the hub runs with ${size} ${size === 1 ? 'thread' : 'threads'} for disk writes and DNS lookups (UV_THREADPOOL_SIZE): a DNS server that does not answer can hold the journal, and with it every reading; set UV_THREADPOOL_SIZE=${THREAD_POOL_ADVISED} in the environment that starts the hub`,
  );
}

/**
 * Unless told otherwise, V8 bounds the heap by the machine's memory, and at a bound of 2 GB or more
 * (Node 20) lets it grow to four times what it held after a full collection before it collects
 * again. Bounded just under, at 2000 MB, it collects at about twice: under a flood the hub peaked
 * at 297–331 MB instead of 309–404 MB, and with 1024 MB lower still but at half as much CPU again
 * per reading under a steady load. Node 24 also lets each half of its young generation grow to
 * 64 MB where Node 20 stops at 16: under the flood it peaked at 434–464 MB, with 16 MB at 354–355 MB
 * (bench/README.md). `npm start` and the Docker image set both; a hub started with no bound of its
 * own on the heap says so.
 */
const HEAP_ADVISED = '--max-old-space-size=2000 --max-semi-space-size=16';

function warnOfUnsetHeapBound(log: { warn: (message: string) => void }): void {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (flags.some((flag) => /^--max[-_]old[-_]space[-_]size=/.test(flag))) return;
  const boundMb = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
  log.warn(
    `the hub's JavaScript heap is bounded only by this machine's memory (${boundMb} MB), and V8 then lets garbage pile up to several times what the hub holds before it collects: under a flood, tens of MB more at the peak; set NODE_OPTIONS to ${HEAP_ADVISED} in the environment that starts the hub`,
  );
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Benchmarks only: what the fsync costs. Deliberately not part of the configuration.
  const journalFsync = process.env.BENCH_NO_JOURNAL_FSYNC !== '1';
  const hub = await startHub({ config, processMetrics: true, journalFsync, readConfig: () => loadConfig() });
  if (!journalFsync)
    hub.log.warn('BENCH_NO_JOURNAL_FSYNC=1: the journal does not fsync; acknowledged readings can be lost in a crash');
  const storage = config.storage.influx_url
    ? `InfluxDB at ${new URL(config.storage.influx_url).host}`
    : `embedded SQLite in ${config.data_dir}`;
  const mqtt = [
    hub.mqttPort !== undefined && `mqtt://${config.bind}:${hub.mqttPort}`,
    hub.mqttsPort !== undefined && `mqtts://${config.bind}:${hub.mqttsPort}`,
  ]
    .filter(Boolean)
    .join(' or ');
  hub.log.info(
    { http: hub.url, mqtt },
    `floorwatch hub ready: sensors publish to ${mqtt} (or ${hub.url.replace('http', 'ws')}/mqtt); API at ${hub.url}/api/v1 (docs at ${hub.url}/docs); readings stored in ${storage}`,
  );
  warnOfSmallThreadPool(hub.log);
  warnOfUnsetHeapBound(hub.log);
  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) {
      hub.log.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    hub.log.info(`${signal} received`);
    hub.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        hub.log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  // As Mosquitto, Prometheus and Telegraf do: SIGHUP reads the configuration again.
  process.on('SIGHUP', () => {
    try {
      hub.reloadConfig('SIGHUP');
    } catch (err) {
      hub.log.error({ err }, `could not reload the configuration: ${(err as Error).message}`);
    }
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'EADDRINUSE'
      ? ' — another program already uses that port: stop it, or set FLOORWATCH_HTTP_PORT / FLOORWATCH_MQTT_PORT'
      : '';
  process.stderr.write(`floorwatch hub could not start: ${message}${hint}\n`);
  process.exit(1);
});
