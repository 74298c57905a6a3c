// Hostile-input hardening: generated input through the payload decoders (JSON, SenML, heartbeat,
// serial frames), the whole ingest path and the configuration loader. 100,000 cases in all; the
// only way out of a decoder is a Rejection, of the loader a ConfigError, and nothing may crash,
// reject unhandled, or touch Object.prototype.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../hub/config/config.ts';
import { entryProblem, readingProblem, type Entry } from '../hub/domain/reading.ts';
import { Ingest } from '../hub/ingest/ingest.ts';
import { KnownDevices } from '../hub/ingest/known-devices.ts';
import { frameChecksum } from '../hub/domain/frame.ts';
import { FrameSplitter, openFrame, parseFrame } from '../hub/ingest/parsers/frame.ts';
import { parsePayload, type MessageKind } from '../hub/ingest/parsers/index.ts';
import { parseSenml } from '../hub/ingest/parsers/senml.ts';
import { Rejection } from '../hub/ingest/rejection.ts';
import { RejectionLog } from '../hub/ingest/rejections.ts';
import { createMetrics } from '../hub/telemetry/metrics.ts';

const NOW = Date.UTC(2025, 5, 1);

/** Values chosen to hit edges: names with meaning, numbers at the limits, prototype keys. */
const hostile = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    't-1/',
    'temperature',
    'Cel',
    'K',
    'degF',
    '%RH',
    '__proto__',
    'constructor',
    'toString',
    'valueOf',
    'hasOwnProperty',
    'NaN',
    '1e999',
    '',
    '/',
    'a/b/c',
    2 ** 28,
    -1,
    8.64e15 + 1,
    Number.MAX_VALUE,
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

const senmlRecord = fc.record(
  {
    bn: hostile,
    bt: hostile,
    bu: hostile,
    bv: hostile,
    bver: hostile,
    n: hostile,
    u: hostile,
    v: hostile,
    vs: hostile,
    vb: hostile,
    t: hostile,
    s: hostile,
  },
  { requiredKeys: [] },
);

/** Runs a decoder; anything thrown must be a Rejection with a reason and a sentence. */
function onlyRejections(decode: () => unknown): void {
  try {
    decode();
  } catch (err) {
    if (!(err instanceof Rejection)) throw err;
    expect(err.detail.length).toBeGreaterThan(0);
  }
}

function prototypeUntouched(): void {
  expect(Object.keys(Object.prototype)).toEqual([]);
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  expect(unhandled).toEqual([]);
  prototypeUntouched();
});

describe('payload decoders under generated input', () => {
  it('JSON telemetry and heartbeats: 20,000 generated JSON documents', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<MessageKind>('telemetry', 'heartbeat', 'status'),
        fc.oneof(fc.jsonValue(), fc.dictionary(fc.string({ maxLength: 12 }), hostile)),
        (kind, doc) => {
          onlyRejections(() => parsePayload(kind, Buffer.from(JSON.stringify(doc)), NOW));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('raw bytes and broken text: 16,000 payloads', () => {
    const text = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'grapheme', maxLength: 100 }).map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(fc.constantFrom<MessageKind>('telemetry', 'heartbeat', 'status'), text, (kind, payload) => {
        onlyRejections(() => parsePayload(kind, payload, NOW));
      }),
      { numRuns: 16_000 },
    );
  });

  it('SenML packs: 20,000 generated packs', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(senmlRecord, hostile), { maxLength: 6 }), (pack) => {
        onlyRejections(() => parseSenml(pack, NOW));
        onlyRejections(() => parsePayload('telemetry', Buffer.from(JSON.stringify(pack)), NOW));
      }),
      { numRuns: 20_000 },
    );
  });

  it('serial frames: 15,000 line streams split at random, and 10,000 frames with valid checksums', () => {
    const lineBytes = fc.array(
      fc.oneof(
        fc.uint8Array({ maxLength: 40 }),
        fc
          .constantFrom('$', '*', '\r\n', '\n', ',', '$FWR,t-1,temperature,21.5*', '$FWH,h-1,headset,ok')
          .map((s) => Buffer.from(s)),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(lineBytes, (chunks) => {
        const frames: string[] = [];
        const splitter = new FrameSplitter({
          onFrame: (f) => frames.push(f),
          onNoise: (_noise, bytes) => expect(bytes).toBeGreaterThanOrEqual(0),
          maxBytes: 64,
        });
        for (const chunk of chunks) splitter.push(Buffer.from(chunk));
        splitter.reset();
        for (const frame of frames) {
          expect(frame.length).toBeLessThanOrEqual(64);
          const opened = openFrame(frame);
          if (opened.ok) onlyRejections(() => parseFrame(frame));
        }
      }),
      { numRuns: 15_000 },
    );
    const field = fc.oneof(
      fc.string({ maxLength: 12 }).map((s) => s.replace(/[*$\r\n]/g, '')),
      fc.constantFrom('', '21.5', '-0', '1e999', 'NaN', '=', 'a=b:c', 'x=', '=y:z', '99999999999999999'),
    );
    fc.assert(
      fc.property(fc.constantFrom('FWR', 'FWH', 'FWG', 'FWX'), fc.array(field, { maxLength: 7 }), (tag, fields) => {
        const body = [tag, ...fields].join(',');
        const frame = `$${body}*${frameChecksum(body)}`;
        const opened = openFrame(frame);
        if (opened.ok) onlyRejections(() => parseFrame(frame));
      }),
      { numRuns: 10_000 },
    );
  });

  it('the whole ingest path: 5,000 messages, never an unhandled rejection, every value accounted for', async () => {
    const journaled: Entry[] = [];
    const ingest = new Ingest({
      settings: {
        maxClockSkewMs: 300_000,
        maxReplayAgeMs: 7 * 86_400_000,
        maxPayloadBytes: 4096,
        maxMetricsPerDevice: 64,
        maxComponentsPerDevice: 64,
        acceptUndeclaredDevices: true,
      },
      declaredZones: new Map([['t-1', 'floor-a']]),
      knownDevices: new KnownDevices({ max: 20_000, configured: ['t-1'] }),
      append: async (entries) => journaled.push(...entries),
      rejections: new RejectionLog({ capacity: 100, now: () => NOW, log: () => undefined }),
      metrics: createMetrics(),
    });
    const key = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', 'temperature', 'co2'),
    );
    const body = fc.oneof(
      fc.dictionary(key, hostile),
      fc.array(fc.oneof(senmlRecord, hostile), { maxLength: 4 }),
      hostile,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<MessageKind>('telemetry', 'heartbeat', 'status'),
        fc.oneof(fc.constantFrom('t-1', 'h-2'), fc.string({ maxLength: 70 })),
        body,
        async (kind, device, doc) => {
          const outcome = await ingest.accept({
            source: 'mqtt',
            kind,
            device,
            payload: Buffer.from(JSON.stringify(doc)),
            receivedAt: NOW,
          });
          expect(outcome.rejected).toBe(outcome.problems.length);
        },
      ),
      { numRuns: 5_000 },
    );
    for (const entry of journaled) {
      // Plain data only: what the journal writes to disk is exactly what its consumers are handed.
      expect(JSON.parse(JSON.stringify(entry))).toStrictEqual(entry);
      if (entry.type === 'readings') for (const r of entry.readings) expect(readingProblem(r)).toBeUndefined();
      // What ingest journals is an entry to another hub of the cluster too.
      expect(entryProblem(entry)).toBeUndefined();
    }
  });
});

describe('configuration loader under generated input', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'floorwatch-fuzz-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function onlyConfigErrors(load: () => unknown): void {
    try {
      load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      expect(err.problems.length).toBeGreaterThan(0);
    }
  }

  const variable = fc.oneof(
    fc.constantFrom(
      'FLOORWATCH_HTTP_PORT',
      'FLOORWATCH_MQTT_PORT',
      'FLOORWATCH_BIND',
      'FLOORWATCH_INFLUX_URL',
      'FLOORWATCH_LOG_LEVEL',
      'FLOORWATCH_INGEST__MAX_CLOCK_SKEW',
      'FLOORWATCH_LIMITS__MAX_CONNECTIONS',
      'FLOORWATCH_SECURITY__ALLOW_ANONYMOUS',
      'FLOORWATCH_SECURITY__TLS__MQTT_PORT',
      'FLOORWATCH_CONSTRUCTOR__PROTOTYPE__X',
      'FLOORWATCH___PROTO____X',
      'FLOORWATCH_ZONES',
    ),
    fc.stringMatching(/^[A-Z_]{1,30}$/).map((s) => `FLOORWATCH_${s}`),
  );
  const value = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom(
      '',
      '0',
      '-1',
      '65536',
      'true',
      'false',
      '1e3',
      '15m',
      '-15m',
      'http://x',
      'javascript:alert(1)',
      '${HOME}',
      '__proto__',
    ),
  );

  it('environment variables: 12,000 generated environments', () => {
    fc.assert(
      fc.property(fc.dictionary(variable, value, { maxKeys: 5 }), (env) => {
        onlyConfigErrors(() => loadConfig({ env: { ...env, FLOORWATCH_DATA_DIR: dir }, cwd: dir }));
      }),
      { numRuns: 12_000 },
    );
  });

  it('floorwatch.yaml: 2,000 generated files', () => {
    const file = join(dir, 'floorwatch.yaml');
    const section = fc.constantFrom(
      'site',
      'bind',
      'http',
      'mqtt',
      'storage',
      'ingest',
      'security',
      'limits',
      'zones',
      'devices',
      'serial',
      '__proto__',
      'constructor',
    );
    const document = fc.oneof(
      fc
        .dictionary(
          section,
          fc.oneof(
            hostile,
            fc.dictionary(fc.string({ maxLength: 16 }), hostile, { maxKeys: 3 }),
            fc.array(fc.dictionary(fc.constantFrom('id', 'kind', 'zone', 'type', 'path', 'gateway'), hostile), {
              maxLength: 3,
            }),
          ),
        )
        .map((d) => stringify(d)),
      fc.string({ maxLength: 200 }),
      fc.constantFrom('a: &a [*a]', '__proto__: {polluted: 1}', '- just\n- a list', '{', ': :', 'bind: [1, 2'),
    );
    fc.assert(
      fc.property(document, (text) => {
        writeFileSync(file, text);
        onlyConfigErrors(() => loadConfig({ env: { FLOORWATCH_CONFIG: file, FLOORWATCH_DATA_DIR: dir }, cwd: dir }));
      }),
      { numRuns: 2_000 },
    );
  });
});
