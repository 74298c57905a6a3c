// InfluxDB line protocol: points to text, with the escaping InfluxDB 1.x reads back as written.
// Pure: no I/O. What the protocol cannot carry is refused with a reason, never sent mangled.
//
// InfluxDB 1.x unescapes only `\,` `\ ` (and `\=` in keys and tag values), so a backslash next to
// one of those, or at the end, does not come back as written: names and tag values may hold no
// backslash at all. Nor line breaks or other control characters (a line break ends the point), and
// a measurement may not begin with `#` (the line would be read as a comment).

/** A field's value: a float (number), an integer (bigint, InfluxDB's `i`) or a string. */
export type FieldValue = number | bigint | string;

export interface Point {
  measurement: string;
  /** Key/value pairs, in key order (InfluxDB sorts them itself, but faster when they come sorted). */
  tags: ReadonlyArray<readonly [string, string]>;
  /** At least one. */
  fields: ReadonlyArray<readonly [string, FieldValue]>;
  /** ms since epoch, written with precision=ms. */
  time: number;
}

/** A point the line protocol cannot carry as it is. */
export class LineProtocolError extends Error {
  override readonly name = 'LineProtocolError';
}

/** InfluxDB's time range is int64 ns, roughly 1677 to 2262. */
export const MIN_TIME_MS = -9_223_372_036_854;
export const MAX_TIME_MS = 9_223_372_036_854;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UNWRITABLE = /[\u0000-\u001f\u007f\\]/;
const MEASUREMENT_SPECIAL = /[, ]/g;
const KEY_SPECIAL = /[,= ]/g;
const STRING_SPECIAL = /[\\"]/g;
const LINE_BREAKS = /[\r\n]+/g;

/**
 * Text with nothing to escape or refuse (no control character, backslash, space, ',' or '='), the
 * common case, written as it is. A loop over char codes: this runs for every name of every point
 * written, and beats a regular expression on short names.
 */
function isPlain(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x2c || c === 0x3d || c === 0x5c || c === 0x7f) return false;
  }
  return true;
}

/** `what` names the text in an error, `tag` the key of a tag value; the name is built only on refusal. */
function escaped(text: string, special: RegExp, what: string, tag?: string): string {
  if (typeof text === 'string' && isPlain(text)) return text;
  const name = tag === undefined ? what : `tag ${JSON.stringify(tag)} value`;
  if (typeof text !== 'string' || text === '') throw new LineProtocolError(`${name} is empty`);
  const bad = UNWRITABLE.exec(text);
  if (bad !== null) {
    throw new LineProtocolError(
      `${name} ${JSON.stringify(text)} cannot be written to InfluxDB: it holds ${JSON.stringify(bad[0])}`,
    );
  }
  return text.replace(special, '\\$&');
}

/** A measurement name, commas and spaces escaped. */
export function escapeMeasurement(name: string): string {
  if (typeof name === 'string' && name.startsWith('#')) {
    throw new LineProtocolError(
      `measurement ${JSON.stringify(name)} cannot be written to InfluxDB: a line starting with '#' is a comment`,
    );
  }
  return escaped(name, MEASUREMENT_SPECIAL, 'measurement');
}

/** A tag key or a field key: commas, '=' and spaces escaped. */
export function escapeKey(text: string, what: 'tag key' | 'field key' = 'tag key'): string {
  return escaped(text, KEY_SPECIAL, what);
}

/** The value of tag `key`, escaped as keys are. */
function escapeTagValue(value: string, key: string): string {
  return escaped(value, KEY_SPECIAL, 'tag value', key);
}

/**
 * A string field value, quoted: backslashes and quotes escaped. Line breaks become one space, so
 * every reader of the text (Grafana's annotations among them) sees one line.
 */
export function quoteString(text: string): string {
  return `"${text.replace(STRING_SPECIAL, '\\$&').replace(LINE_BREAKS, ' ')}"`;
}

function fieldValue(key: string, value: FieldValue): string {
  if (typeof value === 'number') {
    // NaN and infinities have no line-protocol form.
    if (!Number.isFinite(value))
      throw new LineProtocolError(`field ${JSON.stringify(key)} is ${value}, which InfluxDB cannot store`);
    return String(value);
  }
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX)
      throw new LineProtocolError(`field ${JSON.stringify(key)} is ${value}, beyond InfluxDB's 64-bit integers`);
    return `${value}i`;
  }
  if (typeof value === 'string') return quoteString(value);
  throw new LineProtocolError(
    `field ${JSON.stringify(key)} is of type ${typeof value}, not a number, integer or string`,
  );
}

/** One point as one line, without the line break. */
export function encodePoint(p: Point): string {
  if (!Number.isSafeInteger(p.time)) throw new LineProtocolError(`time ${String(p.time)} is not a whole number of ms`);
  if (p.time < MIN_TIME_MS || p.time > MAX_TIME_MS)
    throw new LineProtocolError(`time ${p.time} is outside what InfluxDB can store (1677 to 2262)`);
  if (p.fields.length === 0)
    throw new LineProtocolError(`a point of ${JSON.stringify(p.measurement)} needs at least one field`);
  let line = escapeMeasurement(p.measurement);
  // Index loops, no destructuring: this runs for every reading written, and iterators cost here.
  for (let i = 0; i < p.tags.length; i++) {
    const tag = p.tags[i]!;
    line += `,${escapeKey(tag[0])}=${escapeTagValue(tag[1], tag[0])}`;
  }
  for (let i = 0; i < p.fields.length; i++) {
    const field = p.fields[i]!;
    line += `${i === 0 ? ' ' : ','}${escapeKey(field[0], 'field key')}=${fieldValue(field[0], field[1])}`;
  }
  return `${line} ${p.time}`;
}
