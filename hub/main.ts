// `npm start`: the hub on its configuration, until SIGINT or SIGTERM; SIGHUP reloads the configuration.
import { ConfigError, loadConfig } from './config/config.ts';
import { startHub } from './hub.ts';
import { serviceEnvironmentWarnings } from './service-environment.ts';

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
  for (const warning of serviceEnvironmentWarnings()) hub.log.warn(warning);
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
