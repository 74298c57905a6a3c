// The hub's log. Text: lines a person reads ("12:04:31 WARN: refused input from t-17: …"), the
// default on a terminal. JSON: one object per line for log tools, the default anywhere else.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LogSettings {
  level: string;
  format: 'auto' | 'text' | 'json';
  /** The site's name, on every line. */
  site: string;
}

export function createLog(settings: LogSettings): Logger {
  const options = { level: settings.level, base: { site: settings.site } };
  const text = settings.format === 'text' || (settings.format === 'auto' && process.stdout.isTTY);
  if (!text) return pino(options);
  return pino(
    options,
    pretty({ translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,site', singleLine: true, sync: true }),
  );
}
