// The hub's log. Text: lines a person reads ("12:04:31 WARN: refused input from t-17: …"), the
// default on a terminal. JSON: one object per line for log tools, the default anywhere else.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config/config.ts';

export function createLog(config: Pick<Config, 'log_level' | 'log_format' | 'site'>): Logger {
  const options = { level: config.log_level, base: { site: config.site.name } };
  const text = config.log_format === 'text' || (config.log_format === 'auto' && process.stdout.isTTY);
  if (!text) return pino(options);
  return pino(
    options,
    pretty({ translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,site', singleLine: true, sync: true }),
  );
}
