// The hub's log. Text: lines a person reads ("12:04:31 WARN: refused input from t-17: …"), the
// default on a terminal. JSON: one object per line for log tools, the default anywhere else.
// Standard output is written so that a pipe whose reader stops reading never holds the hub or
// its memory (stdout.ts): lines past log_max_waiting_bytes are dropped, counted, and told of once
// output moves again.
import type { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { counted } from '../domain/counted.ts';
import { HIDDEN_CHARACTERS } from '../domain/reading.ts';
import { StandardOutput } from './stdout.ts';

export interface LogSettings {
  level: string;
  format: 'auto' | 'text' | 'json';
  /** The site's name, on every line. */
  site: string;
  /** Where lines go; standard output unless a test reads them. */
  destination?: Writable;
  /** Bytes of lines waiting for standard output (log_max_waiting_bytes); past it lines are dropped. */
  maxWaitingBytes?: number;
  /** Called for each line dropped. */
  onDropped?: () => void;
}

const DEFAULT_MAX_WAITING_BYTES = 8 * 1024 * 1024;

/** The characters the domain takes as hidden: an outside value's way to forge or hide a line. */
const HIDDEN = new RegExp(HIDDEN_CHARACTERS, 'gu');

/** A message as one line, every hidden character written as its escape ("\n", "\u202e"). */
export function oneLine(message: string): string {
  return message.replace(HIDDEN, (c) =>
    c === '\n' ? '\\n' : `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * A line's fields (a topic, a device's unit) with each text in them as one line, a few levels
 * deep. Only plain objects and arrays are looked into: an error, a date or a buffer goes to its
 * serialiser as it is (an error's message and stack are not fields of its own to copy).
 */
function fieldsOnOneLine(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return oneLine(value);
  if (depth > 6 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => fieldsOnOneLine(v, depth + 1));
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const fields: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // Defined, not assigned: a field named "__proto__" stays a field.
    Object.defineProperty(fields, oneLine(key), {
      value: fieldsOnOneLine(v, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return fields;
}

/** Text lines, each made as pino hands it over and written at once: nothing is buffered on the way. */
function textLines(out: DestinationStream): DestinationStream {
  const line = prettyFactory({
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,site',
    singleLine: true,
    messageFormat: (entry, key) => {
      const message = entry[key];
      return typeof message === 'string' ? oneLine(message) : '';
    },
  });
  return { write: (json: string) => out.write(line(json)) };
}

export function createLog(settings: LogSettings): Logger {
  const options = { level: settings.level, base: { site: settings.site } };
  const text = settings.format === 'text' || (settings.format === 'auto' && process.stdout.isTTY);
  const maxBytes = settings.maxWaitingBytes ?? DEFAULT_MAX_WAITING_BYTES;
  let dropped = 0;
  const out: DestinationStream =
    settings.destination ??
    new StandardOutput({
      maxBytes,
      onDropped: () => {
        dropped += 1;
        settings.onDropped?.();
      },
      onMoving: () => tellDropped(),
    });
  // JSON escapes what a message holds; a text line shows it as it is, so it is escaped here.
  const log = text
    ? pino(
        { ...options, formatters: { log: (fields) => fieldsOnOneLine(fields) as Record<string, unknown> } },
        textLines(out),
      )
    : pino(options, out);
  function tellDropped(): void {
    const lost = dropped;
    dropped = 0;
    log.warn(
      { logLinesDropped: lost },
      `${counted(lost, 'log line was', 'log lines were')} not written: standard output was not read fast enough and ${maxBytes} bytes were waiting (log_max_waiting_bytes)`,
    );
  }
  if (!text) return log;
  // The fields a child log carries on each of its lines too: pino formats them once, as the child
  // is made, and not through the formatter above. Children inherit this, so grandchildren as well.
  // Called on whichever log makes the child, as pino's own is: taken unbound on purpose.
  const child = Reflect.get<Logger, 'child'>(log, 'child');
  log.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, fieldsOnOneLine(bindings) as typeof bindings, childOptions);
  } as typeof child;
  return log;
}
