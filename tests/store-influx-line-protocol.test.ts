// The line protocol encoder on its own, no server: escaping of hostile names, what it refuses, and
// (by a reader that follows InfluxDB 1.x's own scanning rules) that every name it writes is read
// back as one token with the same text.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodePoint,
  escapeKey,
  escapeMeasurement,
  LineProtocolError,
  quoteString,
  type Point,
} from '../hub/store/influx/line-protocol.ts';
import { hostileName } from './support/hostile-names.ts';

/**
 * How InfluxDB 1.x reads a measurement, tag key, tag value or field key starting at `start`: a
 * backslash always takes the next byte with it, an unescaped delimiter ends the token, and then
 * only `\,` `\ ` (and `\=` outside measurements) are unescaped.
 */
function readToken(line: string, start: number, delimiters: string, unescapes: string): { text: string; end: number } {
  let i = start;
  while (i < line.length && !delimiters.includes(line[i]!)) i += line[i] === '\\' ? 2 : 1;
  let text = line.slice(start, i);
  for (const c of unescapes) text = text.split(`\\${c}`).join(c);
  return { text, end: i };
}

describe('line protocol', () => {
  it('writes prototype names as plain text', () => {
    const point: Point = {
      measurement: '__proto__',
      tags: [
        ['constructor', 'toString'],
        ['__proto__', 'hasOwnProperty'],
      ],
      fields: [['valueOf', 1.5]],
      time: 5,
    };
    expect(encodePoint(point)).toBe('__proto__,constructor=toString,__proto__=hasOwnProperty valueOf=1.5 5');
  });

  it('escapes spaces and commas in measurements, and spaces, commas and = in keys and tag values; quotes and unicode stay as they are', () => {
    expect(escapeMeasurement('noise level,a=b "x"')).toBe('noise\\ level\\,a=b\\ "x"');
    expect(escapeKey('zone a,b=c "x"')).toBe('zone\\ a\\,b\\=c\\ "x"');
    expect(escapeMeasurement('Lärm 😀')).toBe('Lärm\\ 😀');
    const line = encodePoint({ measurement: 'a b', tags: [['k=1', 'v,1 "q"']], fields: [['f 1', 2]], time: 0 });
    expect(line).toBe('a\\ b,k\\=1=v\\,1\\ "q" f\\ 1=2 0');
  });

  it('quotes string fields, escaping backslashes and quotes, and flattens line breaks', () => {
    expect(quoteString('noise "LAeq" 66 dB(A) \\ above 65')).toBe('"noise \\"LAeq\\" 66 dB(A) \\\\ above 65"');
    expect(quoteString('first\r\nsecond\n\nthird')).toBe('"first second third"');
    expect(quoteString('')).toBe('""');
  });

  it('writes floats, integers and strings in their own forms', () => {
    const fields: Point['fields'] = [
      ['f', 21.5],
      ['big', 1e21],
      ['tiny', 5e-324],
      ['negzero', -0],
      ['i', 42n],
      ['min', -(2n ** 63n)],
      ['s', 'x'],
    ];
    expect(encodePoint({ measurement: 'm', tags: [], fields, time: -1 })).toBe(
      `m f=21.5,big=1e+21,tiny=5e-324,negzero=0,i=42i,min=-9223372036854775808i,s="x" -1`,
    );
  });

  it('refuses, with the reason, what InfluxDB 1.x cannot read back as written', () => {
    const base: Point = { measurement: 'm', tags: [['device', 'd1']], fields: [['value', 1]], time: 1 };
    const refused: [Point, RegExp][] = [
      [{ ...base, measurement: 'a\nb' }, /measurement "a\\nb" cannot be written to InfluxDB: it holds "\\n"/],
      [{ ...base, measurement: '#comment' }, /a line starting with '#' is a comment/],
      [{ ...base, measurement: '' }, /measurement is empty/],
      [
        { ...base, tags: [['device', 'd1\\']] },
        /tag "device" value "d1\\\\" cannot be written to InfluxDB: it holds "\\\\"/,
      ],
      [{ ...base, tags: [['device', '']] }, /tag "device" value is empty/],
      [{ ...base, tags: [['dev\tice', 'd1']] }, /tag key "dev\\tice" .* it holds "\\t"/],
      [{ ...base, tags: [['device', 'd\u00001']] }, /it holds "\\u0000"/],
      [{ ...base, fields: [] }, /needs at least one field/],
      [{ ...base, fields: [['value', Number.NaN]] }, /field "value" is NaN/],
      [{ ...base, fields: [['value', Number.POSITIVE_INFINITY]] }, /field "value" is Infinity/],
      [{ ...base, fields: [['value', 2n ** 63n]] }, /beyond InfluxDB's 64-bit integers/],
      [{ ...base, fields: [['value', true as unknown as number]] }, /of type boolean/],
      [{ ...base, fields: [['va\nlue', 1]] }, /field key "va\\nlue"/],
      [{ ...base, time: 1.5 }, /time 1.5 is not a whole number of ms/],
      [{ ...base, time: 9_223_372_036_855 }, /outside what InfluxDB can store \(1677 to 2262\)/],
    ];
    for (const [point, reason] of refused) {
      const err = (() => {
        try {
          encodePoint(point);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(
        err,
        JSON.stringify(point, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
      ).toBeInstanceOf(LineProtocolError);
      expect((err as Error).message).toMatch(reason);
    }
  });

  it('every name it writes is read back by InfluxDB 1.x rules as one token holding the same text', () => {
    fc.assert(
      fc.property(hostileName, hostileName, hostileName, (measurement, key, value) => {
        fc.pre(!measurement.startsWith('#'));
        const line = encodePoint({ measurement, tags: [[key, value]], fields: [['value', 1]], time: 7 });
        const m = readToken(line, 0, ', ', ', ');
        expect(m.text).toBe(measurement);
        expect(line[m.end]).toBe(',');
        const k = readToken(line, m.end + 1, ',= ', ',= ');
        expect(k.text).toBe(key);
        expect(line[k.end]).toBe('=');
        const v = readToken(line, k.end + 1, ',= ', ',= ');
        expect(v.text).toBe(value);
        expect(line.slice(v.end)).toBe(' value=1 7');
      }),
      { numRuns: 500 },
    );
  });
});
