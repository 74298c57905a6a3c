// What the InfluxDB client makes of the server's answers to a write, and of the store URL, without
// a server: unavailable (the journal retries) or refused for good (the writer sets readings
// aside), always with InfluxDB's own words.
import { describe, expect, it } from 'vitest';
import { SchemaMissing, errorMessage, parseInfluxUrl, writeFailure } from '../hub/store/influx/client.ts';
import { StoreRefusal, StoreUnavailable } from '../hub/store/store.ts';

const json = (error: string): string => JSON.stringify({ error });

describe('a refused write', () => {
  it('refuses points for good on a 400 or another 4xx, with the database message and how many it dropped', () => {
    const conflict = writeFailure({
      status: 400,
      body: json(
        'partial write: field type conflict: input field "value" on measurement "temperature" is type float, already exists as type integer dropped=3',
      ),
    });
    expect(conflict).toBeInstanceOf(StoreRefusal);
    expect(conflict.message).toBe(
      'InfluxDB write failed (400): partial write: field type conflict: input field "value" on measurement "temperature" is type float, already exists as type integer dropped=3',
    );
    expect((conflict as StoreRefusal).dropped).toBe(3);

    const unparsable = writeFailure({ status: 400, body: json("unable to parse 'noise value=': missing field value") });
    expect(unparsable).toBeInstanceOf(StoreRefusal);
    expect((unparsable as StoreRefusal).dropped).toBeUndefined();

    // "dropped=" only counts at the end of InfluxDB's message, never from a name inside it.
    expect(
      (writeFailure({ status: 400, body: json('partial write: dropped=7 is a tag value here') }) as StoreRefusal)
        .dropped,
    ).toBeUndefined();

    const tooLarge = writeFailure({ status: 413, body: json('Request Entity Too Large') });
    expect(tooLarge).toBeInstanceOf(StoreRefusal);
    expect(tooLarge).not.toBeInstanceOf(StoreUnavailable);
  });

  it("is the server state, to retry, on a 5xx, a timeout, too many requests, refused credentials, a missing database or an answer that is not InfluxDB's", () => {
    for (const status of [500, 502, 503, 504, 408, 429]) {
      const failure = writeFailure({ status, body: json('engine: cache-max-memory-size exceeded') });
      expect(failure, String(status)).toBeInstanceOf(StoreUnavailable);
      expect(failure.message).toBe(`InfluxDB write failed (${status}): engine: cache-max-memory-size exceeded`);
    }
    for (const status of [401, 403]) {
      const failure = writeFailure({ status, body: json('authorization failed') });
      expect(failure).toBeInstanceOf(StoreUnavailable);
      expect(failure.message).toBe(
        `InfluxDB write failed (${status}): authorization failed: InfluxDB refuses the hub's credentials (check the user and password in the InfluxDB url)`,
      );
    }
    // Not InfluxDB's answer to a stored write (204): a proxy's page, a redirect.
    for (const status of [200, 201, 301, 307])
      expect(writeFailure({ status, body: '<html>moved</html>' }), String(status)).toBeInstanceOf(StoreUnavailable);
    const missing = writeFailure({ status: 404, body: json('database not found: "floor"') });
    expect(missing).toBeInstanceOf(SchemaMissing);
    expect(missing).toBeInstanceOf(StoreUnavailable);
    expect(missing.message).toBe('InfluxDB write failed (404): database not found: "floor"');
    // A policy dropped (or not yet seen just after it was made) is missing too, not a failure of InfluxDB's.
    expect(writeFailure({ status: 500, body: json('retention policy not found: raw') })).toBeInstanceOf(SchemaMissing);
    expect(writeFailure({ status: 500, body: json('timeout') })).not.toBeInstanceOf(SchemaMissing);
  });

  it("quotes what answered when it is not InfluxDB's JSON, cut short", () => {
    expect(errorMessage({ status: 502, body: '  <html>Bad Gateway</html>\n' })).toBe('<html>Bad Gateway</html>');
    expect(errorMessage({ status: 502, body: '' })).toBe('HTTP 502');
    expect(errorMessage({ status: 500, body: '{"error": 42}' })).toBe('{"error": 42}');
    expect(errorMessage({ status: 500, body: 'null' })).toBe('null');
    expect(errorMessage({ status: 500, body: 'x'.repeat(2000) })).toHaveLength(500);
    expect(writeFailure({ status: 503, body: '' }).message).toBe('InfluxDB write failed (503): HTTP 503');
  });
});

describe('the store URL', () => {
  it('takes the database from the last path segment, keeps a path prefix, and makes the credentials a header', () => {
    expect(parseInfluxUrl('http://127.0.0.1:8086/floorwatch')).toEqual({
      base: 'http://127.0.0.1:8086',
      database: 'floorwatch',
    });
    const target = parseInfluxUrl('https://hub%40site:p%40ss%3Aword@influx.example:8086/proxy/v1/floor_1/');
    expect(target.base).toBe('https://influx.example:8086/proxy/v1');
    expect(target.database).toBe('floor_1');
    expect(Buffer.from(target.authorization!.replace(/^Basic /, ''), 'base64').toString()).toBe('hub@site:p@ss:word');
    // A name InfluxDB's grammar allows, quoted wherever it is used: nothing to fear from the prototype.
    expect(parseInfluxUrl('http://h:1/__proto__').database).toBe('__proto__');
  });

  it('refuses what is not an http(s) URL naming a database it can put in InfluxQL', () => {
    expect(() => parseInfluxUrl('influx:8086')).toThrow(/must be http or https, not influx:/);
    expect(() => parseInfluxUrl('not a url')).toThrow(/InfluxDB url is not a URL/);
    expect(() => parseInfluxUrl('ftp://h/db')).toThrow(/must be http or https, not ftp:/);
    for (const bad of [
      'http://h:8086',
      'http://h:8086/my-db',
      'http://h:8086/db%22',
      'http://h:8086/a%20b',
      `http://h/${'x'.repeat(65)}`,
      'http://h/%E2%82%AC',
    ]) {
      expect(() => parseInfluxUrl(bad), bad).toThrow(
        /database name .* is not allowed: use 1-64 letters, digits or '_'/,
      );
    }
  });
});
