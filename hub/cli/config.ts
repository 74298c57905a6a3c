// `floorwatch config check [FILE]`: checks a configuration file exactly as the hub does at start
// (the same messages, each naming the field and its line; TLS files readable; no listening on the
// network without credentials), before anyone applies it; exit 0 with
// a summary of what the file defines, 1 with every problem found.
import { loadConfig } from '../config/config.ts';
import { ConfigError } from '../config/errors.ts';
import type { Config } from '../config/schema.ts';
import { ruleSettings } from '../rules/site.ts';
import { DeviceCredentials } from '../security/credentials.ts';
import { SecurityRefusal, startVerdict } from '../security/start-verdict.ts';
import { ApiTokens } from '../security/tokens.ts';
import type { Command } from './main.ts';

const usage = `floorwatch config check [FILE]   check FILE (default: the file FLOORWATCH_CONFIG names)
                                 as the hub would at start, and say what it defines

Exit status 0 when the hub would start with it, 1 with the problems listed (field, value, line).`;

function list(items: readonly string[], none = 'none'): string {
  if (items.length === 0) return none;
  const shown = items.slice(0, 8).join(', ');
  return items.length > 8 ? `${shown}, … (${items.length} in all)` : shown;
}

/** What the file defines, in a few lines a facilities engineer reads at a glance. */
export function summary(config: Config): string[] {
  const overridden = Object.keys(config.rules.overrides);
  const zoneRules = config.zones.filter((z) => z.rules !== undefined && Object.keys(z.rules).length > 0);
  const channel = (r: Config['notify']['receivers'][number]) =>
    r.email ? 'email' : r.teams ? 'Teams' : r.slack ? 'Slack' : 'webhook';
  const storage = config.storage.influx_url
    ? `InfluxDB (${config.storage.influx_schema} schema), raw readings ${config.storage.raw_retention}, minutes ${config.storage.long_term_retention}`
    : `SQLite in ${config.data_dir}, raw readings ${config.storage.raw_retention}, minutes ${config.storage.long_term_retention}`;
  return [
    `site: ${config.site.name}, time zone ${config.site.timezone}, ${config.site.hours ? 'opening hours set' : 'always open'}`,
    `zones: ${config.zones.length} (${list(config.zones.map((z) => z.id))})`,
    `devices declared: ${config.devices.length} (${config.devices.filter((d) => d.calibration !== undefined).length} calibrated); serial gateways: ${config.serial.length}`,
    `silences kept in the file: ${list(config.silences.map((s) => s.name))}`,
    `rules changed against the defaults: site-wide ${list(overridden)}; in zones ${list(zoneRules.map((z) => z.id))}`,
    `receivers: ${list(config.notify.receivers.map((r) => `${r.name} (${channel(r)})`))}; routes: ${config.notify.routes.length}; webhooks: ${config.notify.webhooks.length}`,
    `storage: ${storage}`,
    `listening on ${config.bind}: HTTP ${config.http.port}, MQTT ${config.mqtt.port}`,
  ];
}

export const command: Command = {
  summary: 'check a configuration file before applying it',
  usage,
  async run(args) {
    const [verb, file, ...rest] = args;
    if (verb !== 'check' || rest.length > 0) {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    const env = file === undefined ? process.env : { ...process.env, FLOORWATCH_CONFIG: file };
    const name = env.FLOORWATCH_CONFIG ?? 'the defaults (no FLOORWATCH_CONFIG)';
    try {
      const config = loadConfig({ env });
      // What the hub reads next at start: the rule book, with its holiday calendar; its TLS files,
      // and the credentials in data_dir that decide whether it may listen where it is told to.
      ruleSettings(config);
      startVerdict(config, new DeviceCredentials(config.data_dir), new ApiTokens(config.data_dir));
      process.stdout.write(
        `${name} is valid.\n${summary(config)
          .map((line) => `  ${line}\n`)
          .join('')}`,
      );
      return 0;
    } catch (err) {
      if (!(err instanceof ConfigError) && !(err instanceof SecurityRefusal)) throw err;
      const problems = err instanceof ConfigError ? err.problems : [err.message];
      process.stderr.write(
        `${name} would not start the hub: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}\n`).join('')}`,
      );
      return 1;
    }
  },
};
