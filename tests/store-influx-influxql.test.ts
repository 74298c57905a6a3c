// InfluxQL on its own, no server: names quoted so a hostile one stays one identifier, values only
// ever bound, and answers that are not InfluxDB's refused with a reason rather than read wrongly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aggregatePoints,
  aggregateQuery,
  alertRecords,
  countTotal,
  measurementIn,
  parseAnswer,
  quoteIdentifier,
  rawPoints,
  rawQuery,
  whereScope,
  type InfluxResult,
} from '../hub/store/influx/influxql.ts';
import { StoreUnavailable } from '../hub/store/store.ts';

/**
 * How InfluxQL's scanner reads a double-quoted identifier starting at `start`: `\\`, `\"`, `\'`
 * and `\n` are escapes, any other escape or a bare line break is an error, an unescaped `"` ends it.
 */
function readIdentifier(text: string, start: number): { name: string; end: number } {
  expect(text[start]).toBe('"');
  let name = '';
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') return { name, end: i + 1 };
    if (c === '\n') throw new Error('bad string: line break');
    if (c !== '\\') {
      name += c;
      continue;
    }
    const next = text[++i];
    if (next === 'n') name += '\n';
    else if (next === '\\' || next === '"' || next === "'") name += next;
    else throw new Error(`bad escape \\${String(next)}`);
  }
  throw new Error('unterminated identifier');
}

const hostile = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'toString',
    'noise"; DROP DATABASE x; --',
    "noise' OR 1=1",
    'noise\\',
    '\\"',
    '/.*/',
    '$device',
    'a"."b',
    'Lärm 😀',
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
);

const answer = (results: unknown): InfluxResult[] => {
  const parsed = parseAnswer(JSON.stringify({ results }));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.results;
};

function unavailable(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreUnavailable);
    return err as Error;
  }
  throw new Error('expected StoreUnavailable, nothing was thrown');
}

describe('InfluxQL statements', () => {
  it('quotes a hostile name so it stays one identifier with the same text', () => {
    expect(quoteIdentifier('noise"; DROP DATABASE x; --')).toBe('"noise\\"; DROP DATABASE x; --"');
    expect(quoteIdentifier('t-1\\')).toBe('"t-1\\\\"');
    expect(quoteIdentifier('__proto__')).toBe('"__proto__"');
    expect(measurementIn('floor', 'raw', 'a"."b')).toBe('"floor"."raw"."a\\".\\"b"');
    fc.assert(
      fc.property(
        hostile.filter((s) => !/[\r\n]/.test(s)),
        (name) => {
          const quoted = quoteIdentifier(name);
          const read = readIdentifier(`${quoted} WHERE x`, 0);
          expect(read).toEqual({ name, end: quoted.length });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a name it cannot quote', () => {
    expect(() => quoteIdentifier('')).toThrow(/cannot be empty/);
    expect(() => quoteIdentifier('noise\nDROP MEASUREMENT noise')).toThrow(/holds a line break/);
    expect(() => quoteIdentifier('a\rb')).toThrow(/holds a line break/);
  });

  it('binds devices and zones: the query text is the same whatever they hold', () => {
    fc.assert(
      fc.property(hostile, hostile, (device, zone) => {
        const byDevice = whereScope({ device, from: 0, to: 1000 });
        const byZone = whereScope({ zone, from: 0, to: 1000 });
        expect(byDevice?.where).toBe('time >= $from AND time < $to AND "device" = $device');
        expect(byZone?.where).toBe('time >= $from AND time < $to AND "zone" = $zone');
        expect(byDevice?.params).toEqual({ from: '1970-01-01T00:00:00.000Z', to: '1970-01-01T00:00:01.000Z', device });
        expect(byZone?.params['zone']).toBe(zone);
        const statement = rawQuery('"db"."raw"."noise"', byDevice!, 10);
        expect(statement.q).toBe(
          'SELECT "value", "device", "uncalibrated" FROM "db"."raw"."noise" WHERE time >= $from AND time < $to AND "device" = $device ORDER BY time DESC LIMIT $limit',
        );
        expect(statement.params['limit']).toBe(10);
      }),
    );
  });

  it('clamps times to what InfluxDB holds and knows an empty range', () => {
    expect(whereScope({ device: 'd1', from: -1e20, to: 1e20 })?.params).toMatchObject({
      from: '1677-09-21T00:12:43.146Z',
      to: '2262-04-11T23:47:16.854Z',
    });
    expect(whereScope({ device: 'd1', from: 1000, to: 1000 })).toBeUndefined();
    expect(whereScope({ device: 'd1', from: 2e19, to: 3e19 })).toBeUndefined();
    expect(() => whereScope({ device: 'd1', from: Number.NaN, to: 1 })).toThrow(/time bound is NaN/);
  });

  it('aggregates per window, or over the range with LAeq as an energy average through a subquery', () => {
    const scope = whereScope({ zone: 'z1', from: 0, to: 60_000 })!;
    expect(aggregateQuery('max', '"db"."raw"."noise"', scope, 60_000).q).toBe(
      'SELECT max("value") FROM "db"."raw"."noise" WHERE time >= $from AND time < $to AND "zone" = $zone GROUP BY time(60000ms) fill(none)',
    );
    expect(aggregateQuery('laeq', '"db"."raw"."noise"', scope).q).toBe(
      'SELECT 10 * log10(mean("energy")) FROM (SELECT pow(10.0, "value" / 10.0) AS "energy" FROM "db"."raw"."noise" WHERE time >= $from AND time < $to AND "zone" = $zone) WHERE time >= $from AND time < $to',
    );
  });
});

describe('InfluxDB answers', () => {
  it("passes InfluxDB's own error through in its words", () => {
    expect(parseAnswer('{"error":"error parsing query: found EOF"}')).toEqual({
      ok: false,
      error: 'error parsing query: found EOF',
    });
    expect(parseAnswer('{"results":[{"statement_id":0},{"statement_id":1,"error":"database not found: x"}]}')).toEqual({
      ok: false,
      error: 'database not found: x',
    });
    expect(parseAnswer('{"results":[{"statement_id":0}]}')).toEqual({ ok: true, results: [{ series: [] }] });
    expect(parseAnswer('{}')).toEqual({ ok: true, results: [] });
  });

  it('refuses, saying what is wrong, an answer that is not what the query API returns', () => {
    const cases: [string, RegExp][] = [
      ['<html><body>502 Bad Gateway</body></html>', /not JSON: "<html><body>502 Bad Gateway/],
      ['', /not JSON: ""/],
      ['{"results":[{"series":[{"columns":["time"', /not JSON/],
      ['null', /not a JSON object/],
      ['[1,2]', /not a JSON object/],
      ['{"results":{"0":{}}}', /results is not a list/],
      ['{"results":[null]}', /results\[0\] is not an object/],
      ['{"results":[{"series":{}}]}', /results\[0\]\.series is not a list/],
      ['{"results":[{"series":[null]}]}', /results\[0\]\.series\[0\] is not an object/],
      ['{"results":[{"series":[{"columns":"time,value"}]}]}', /series\[0\]\.columns is not a list of names/],
      ['{"results":[{"series":[{"columns":["time",7]}]}]}', /columns is not a list of names/],
      [
        '{"results":[{"series":[{"columns":["time","value"],"values":[1,2]}]}]}',
        /series\[0\]\.values is not a list of rows/,
      ],
      ['{"results":[{"series":[{"columns":["time","value"],"values":{"0":[1,2]}}]}]}', /values is not a list of rows/],
    ];
    for (const [body, reason] of cases) expect(unavailable(() => parseAnswer(body)).message, body).toMatch(reason);
    expect(unavailable(() => parseAnswer('x'.repeat(10_000))).message.length).toBeLessThan(300);
  });

  it('never fails on an answer other than by StoreUnavailable, and what it returns has the shape it promises', () => {
    // Mostly near misses: the right keys, with now and then the wrong kind of thing in one of them.
    const sometimes = <T>(arb: fc.Arbitrary<T>) =>
      fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: fc.jsonValue() });
    const series = fc.record(
      {
        name: sometimes(fc.string()),
        columns: sometimes(fc.array(fc.string())),
        values: sometimes(fc.array(sometimes(fc.array(fc.jsonValue())))),
      },
      { requiredKeys: ['columns'] },
    );
    const result = fc.record(
      { statement_id: fc.nat(), series: sometimes(fc.array(sometimes(series), { minLength: 1 })) },
      { requiredKeys: ['series'] },
    );
    const shaped = fc.oneof(fc.jsonValue(), fc.record({ results: sometimes(fc.array(sometimes(result))) }));
    fc.assert(
      fc.property(
        fc.oneof(
          shaped.map((v) => JSON.stringify(v)),
          fc.string(),
        ),
        (body) => {
          let parsed;
          try {
            parsed = parseAnswer(body);
          } catch (err) {
            expect(err).toBeInstanceOf(StoreUnavailable);
            return;
          }
          if (!parsed.ok) {
            expect(typeof parsed.error).toBe('string');
            return;
          }
          for (const result of parsed.results) {
            for (const s of result.series) {
              expect(s.columns.every((c) => typeof c === 'string')).toBe(true);
              expect(s.values.every(Array.isArray)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads raw points in time order, leaving out rows without a numeric value, never reading them as 0', () => {
    const results = answer([
      {
        series: [
          {
            name: 'noise',
            columns: ['time', 'value', 'device'],
            values: [
              [3000, 61, 'd2'],
              [1000, null, 'd1'],
              [2000, '55', 'd1'],
              [3000, 60, 'd1'],
              [500, 40.25, 'd1'],
            ],
          },
        ],
      },
    ]);
    expect(rawPoints(results)).toEqual([
      { ts: 500, value: 40.25, device: 'd1' },
      { ts: 3000, value: 60, device: 'd1' },
      { ts: 3000, value: 61, device: 'd2' },
    ]);
    expect(rawPoints(answer([{}]))).toEqual([]);
    const badTime = answer([
      { series: [{ columns: ['time', 'value', 'device'], values: [['2026-01-01T00:00:00Z', 1, 'd1']] }] },
    ]);
    expect(unavailable(() => rawPoints(badTime)).message).toMatch(/has time "2026-01-01T00:00:00Z", not ms since 1970/);
  });

  it('reads aggregates per window, or at the range start over the whole range', () => {
    const results = answer([
      {
        series: [
          {
            columns: ['time', 'max'],
            values: [
              [0, 50],
              [60_000, null],
              [120_000, 70],
            ],
          },
        ],
      },
    ]);
    expect(aggregatePoints(results)).toEqual([
      { ts: 0, value: 50 },
      { ts: 120_000, value: 70 },
    ]);
    expect(aggregatePoints(answer([{ series: [{ columns: ['time', 'mean'], values: [[0, 65]] }] }]), 1234)).toEqual([
      { ts: 1234, value: 65 },
    ]);
  });

  it('adds up counts across measurements, and refuses a count that is not a number', () => {
    const results = answer([
      {
        series: [
          { name: 'co2', columns: ['time', 'count'], values: [[0, 3]] },
          { name: 'noise', columns: ['time', 'count'], values: [[0, 4]] },
        ],
      },
    ]);
    expect(countTotal(results)).toBe(7);
    expect(countTotal(answer([{ series: [] }]))).toBe(0);
    expect(
      unavailable(() => countTotal(answer([{ series: [{ columns: ['time', 'count'], values: [[0, '7']] }] }]))).message,
    ).toMatch(/a count of "7"/);
  });

  it('reads alert history by column name, whatever the columns are called or in which order', () => {
    const columns = [
      'time',
      '__proto__',
      'value',
      'summary',
      'alert_id',
      'zone',
      'subject',
      'severity',
      'rule',
      'key',
      'event',
      'constructor',
    ];
    const results = answer([
      {
        series: [
          {
            name: 'alerts',
            columns,
            values: [
              [2000, 'x', null, 'resolved', 7, 'floor-a', 'n-1', 'warning', 'noise', 'noise.n-1', 'resolved', 'y'],
              [
                1000,
                'x',
                66.2,
                'noise "LAeq" 66',
                7,
                'floor-a',
                'n-1',
                'critical',
                'noise',
                'noise.n-1',
                'firing',
                'y',
              ],
              [
                1500,
                'x',
                null,
                'another writer',
                null,
                'floor-a',
                'n-1',
                'warning',
                'noise',
                'noise.n-1',
                'firing',
                'y',
              ],
            ],
          },
        ],
      },
    ]);
    expect(alertRecords(results)).toEqual([
      {
        alertId: 7,
        key: 'noise.n-1',
        rule: 'noise',
        subject: 'n-1',
        zone: 'floor-a',
        event: 'firing',
        severity: 'critical',
        at: 1000,
        summary: 'noise "LAeq" 66',
        value: 66.2,
      },
      {
        alertId: 7,
        key: 'noise.n-1',
        rule: 'noise',
        subject: 'n-1',
        zone: 'floor-a',
        event: 'resolved',
        severity: 'warning',
        at: 2000,
        summary: 'resolved',
      },
    ]);
  });
});
