// Ingest as pure logic: parsers, units, validation, duplicates. The journal is a plain array here;
// the integration tests run the same code behind the real broker and journal.
import { describe, expect, it } from 'vitest';
import type { Entry, Reading } from '../hub/domain/reading.ts';
import { KnownDevices } from '../hub/ingest/known-devices.ts';
import { parseSenml } from '../hub/ingest/parsers/senml.ts';
import { MAX_PROBLEMS_TOLD } from '../hub/ingest/ingest.ts';
import { DETAIL_CHARS } from '../hub/ingest/rejection.ts';
import { NAME_CHARS } from '../hub/ingest/rejections.ts';
import { NOW, setup } from './support/ingest.ts';

describe('SenML resolution (RFC 8428)', () => {
  it('applies base name, time, unit and value to the records after them', () => {
    const values = parseSenml(
      [
        { bn: 't-17/', bt: 1764460800, bu: 'Cel', n: 'temperature', v: 23.4 },
        { n: 'co2', u: 'ppm', v: 812, t: 60 },
        { bv: 10, n: 'temperature', v: 1.5, t: 120 },
      ],
      NOW,
    );
    expect(values).toEqual([
      { device: 't-17', metric: 'temperature', value: 23.4, unit: 'Cel', ts: 1764460800000 },
      { device: 't-17', metric: 'co2', value: 812, unit: 'ppm', ts: 1764460860000 },
      { device: 't-17', metric: 'temperature', value: 11.5, unit: 'Cel', ts: 1764460920000 },
    ]);
  });

  it('treats a time below 2^28 as relative to now', () => {
    const [value] = parseSenml([{ n: 'noise', v: 55, t: -30 }], NOW);
    expect(value?.ts).toBe(NOW - 30_000);
  });

  it('refuses broken base fields with the record and the field named', () => {
    expect(() => parseSenml([{ bn: 5, n: 'x', v: 1 }], NOW)).toThrow(/record 0: "bn" must be a string/);
    expect(() =>
      parseSenml(
        [
          { n: 'x', v: 1 },
          { bt: 'yesterday', n: 'y', v: 2 },
        ],
        NOW,
      ),
    ).toThrow(/record 1: "bt" must be a number/);
    expect(() => parseSenml([{ n: 'temperature', vs: 'warm' }], NOW)).toThrow(/only numeric values/);
    expect(() => parseSenml([{ v: 1 }], NOW)).toThrow(/no name/);
    expect(() => parseSenml([], NOW)).toThrow(/empty/);
  });
});

describe('ingest', () => {
  it('journals plain JSON telemetry with the device time and the declared zone', async () => {
    const { send, readings } = setup();
    const outcome = await send({ ts: NOW - 1000, seq: 7, temperature: 23.4, humidity: 41 });
    expect(outcome).toMatchObject({ accepted: 2, rejected: 0 });
    expect(readings()).toEqual([
      { device: 't-1', metric: 'temperature', value: 23.4, ts: NOW - 1000, zone: 'floor-a', seq: 7 },
      { device: 't-1', metric: 'humidity', value: 41, ts: NOW - 1000, zone: 'floor-a', seq: 7 },
      // Worked out from the two (Magnus formula): what the server-room dew-point rule judges.
      { device: 't-1', metric: 'dew_point', value: 9.39, ts: NOW - 1000, zone: 'floor-a', seq: 7 },
    ]);
  });

  it('does not work out a dew point the sensor measured itself', async () => {
    const { send, readings } = setup();
    await send({ temperature: 22, humidity: 50, dew_point: 11.5 });
    expect(
      readings()
        .filter((r) => r.metric === 'dew_point')
        .map((r) => r.value),
    ).toEqual([11.5]);
    await send({ temperature: 22, humidity: 50, ts: NOW - 5 });
    expect(
      readings()
        .filter((r) => r.metric === 'dew_point')
        .map((r) => r.value),
    ).toEqual([11.5, 11.09]);
  });

  it('normalises units to the canonical ones', async () => {
    const { send, readings } = setup();
    await send([
      { bn: 't-1/', n: 'temperature', u: 'K', v: 296.15 },
      { n: 'humidity', u: '/', v: 0.41 },
      { n: 'fresh_air', u: 'l/s/person', v: 10 },
    ]);
    const byMetric = Object.fromEntries(readings().map((r) => [r.metric, r.value]));
    expect(byMetric.temperature).toBeCloseTo(23, 6);
    expect(byMetric.humidity).toBeCloseTo(41, 6);
    expect(byMetric.fresh_air).toBeCloseTo(36, 6);
  });

  it('keeps the good values of a message and rejects the bad ones with a reason each', async () => {
    const { send, readings, rejections } = setup();
    const outcome = await send({ temperature: 900, humidity: 'wet', co2: null, noise: 55, 'bad name': 1 });
    expect(outcome.accepted).toBe(1);
    expect(readings().map((r) => r.metric)).toEqual(['noise']);
    const reasons = rejections
      .list()
      .map((r) => r.reason)
      .sort();
    expect(reasons).toEqual(['invalid_metric', 'invalid_value', 'invalid_value', 'out_of_range']);
    expect(rejections.list({ reason: 'out_of_range' })[0]?.detail).toMatch(
      /temperature 900 °C is outside .*sensor fault/,
    );
  });

  it('flags unknown metrics but keeps them', async () => {
    const { send, readings } = setup();
    await send({ pm25: 12 });
    expect(readings()[0]).toMatchObject({ metric: 'pm25', value: 12, unknownMetric: true });
  });

  it('reads the fields of a JSON message as metrics, whatever their names', async () => {
    const { send, readings } = setup();
    const outcome = await send(
      `{"__proto__": 1, "constructor": 2, "toString": 3, "ts": ${NOW - 5}, "seq": 9, "temperature": 20}`,
    );
    expect(outcome).toMatchObject({ accepted: 3, rejected: 1 });
    expect(outcome.problems).toEqual([expect.objectContaining({ reason: 'invalid_metric' })]);
    expect(readings().map((r) => [r.metric, r.value, r.ts, r.seq])).toEqual([
      ['constructor', 2, NOW - 5, 9],
      ['toString', 3, NOW - 5, 9],
      ['temperature', 20, NOW - 5, 9],
    ]);
  });

  it('stores a reading from a device whose clock is off at receive time', async () => {
    const { send, readings, metrics } = setup();
    await send({ ts: NOW + 3_600_000, temperature: 22 });
    await send({ ts: Date.UTC(2019, 0, 1), humidity: 40 });
    // Both received in the same millisecond: the second message is given the next one.
    expect(readings().map((r) => r.ts)).toEqual([NOW, NOW + 1]);
    expect((await metrics.clockCorrections.get()).values[0]?.value).toBe(2);
  });

  it('gives messages without a time one receive time each, never one a message before it had', async () => {
    const { send, readings } = setup();
    // Two messages in one millisecond: the stores keep one value per device, metric and time, so
    // the same time for both would have the second overwrite the first there.
    await send({ temperature: 22, co2: 600 });
    await send({ temperature: 23 });
    await send({ temperature: 24 }, { receivedAt: NOW + 1 });
    await send({ temperature: 25 }, { receivedAt: NOW + 50 });
    // Another device's time is its own.
    await send({ temperature: 21 }, { device: 't-2' });
    expect(readings().map((r) => [r.device, r.metric, r.ts - NOW])).toEqual([
      ['t-1', 'temperature', 0],
      ['t-1', 'co2', 0],
      ['t-1', 'temperature', 1],
      ['t-1', 'temperature', 2],
      ['t-1', 'temperature', 50],
      ['t-2', 'temperature', 0],
    ]);
  });

  it('keeps the original time of a replayed reading inside the replay window', async () => {
    const { send, readings } = setup();
    await send({ ts: NOW - 86_400_000, temperature: 22 });
    expect(readings()[0]?.ts).toBe(NOW - 86_400_000);
  });

  it('journals the same (device, seq) or (device, metric, ts) once', async () => {
    const { send, readings } = setup();
    await send({ seq: 1, temperature: 22 });
    const again = await send({ seq: 1, temperature: 22 }, { receivedAt: NOW + 5000 });
    await send({ ts: NOW - 10, humidity: 40 });
    const tsAgain = await send({ ts: NOW - 10, humidity: 40 });
    await send({ seq: 2, temperature: 22 });
    expect(again).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(tsAgain).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(readings().length).toBe(3);
  });

  it('reads only the fields a JSON message has, whatever the prototype lends', async () => {
    const { send, readings } = setup();
    const proto = Object.prototype as Record<string, unknown>;
    proto.pm25 = 1;
    try {
      expect(await send({ temperature: 20 })).toMatchObject({ accepted: 1, rejected: 0 });
    } finally {
      delete proto.pm25;
    }
    expect(readings().map((r) => r.metric)).toEqual(['temperature']);
  });

  it('does not take a restarted device that sends its own time for a repeat of its old seq', async () => {
    const { send, readings } = setup();
    await send({ seq: 0, ts: NOW - 60_000, temperature: 22 });
    const afterReboot = await send({ seq: 0, ts: NOW, temperature: 23 });
    expect(afterReboot).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(readings().map((r) => r.value)).toEqual([22, 23]);
  });

  it('does not remember a message the journal failed to write, so its retry is accepted', async () => {
    const { send, readings, failNext } = setup();
    failNext(true);
    await expect(send({ seq: 9, temperature: 22 })).rejects.toThrow(/no space/);
    failNext(false);
    expect(await send({ seq: 9, temperature: 22 })).toMatchObject({ accepted: 1 });
    expect(readings().length).toBe(1);
  });

  it('limits the distinct metrics of one device', async () => {
    const { send, rejections } = setup();
    const doc: Record<string, number> = {};
    for (let i = 0; i < 20; i++) doc[`m${i}`] = i;
    const outcome = await send(doc);
    expect(outcome).toMatchObject({ accepted: 8, rejected: 12 });
    expect(rejections.list()[0]?.reason).toBe('too_many_metrics');
  });

  it('limits the distinct components of one device: those past it are left out of its heartbeat, which still counts', async () => {
    const { send, journal, rejections } = setup();
    const components = (...names: string[]) => Object.fromEntries(names.map((n) => [n, { state: 'fault' }]));
    const heartbeat = (names: string[]) =>
      send({ status: 'fault', components: components(...names) }, { kind: 'heartbeat' });
    // Names every plain object has, as component names.
    await heartbeat(['constructor', 'toString', 'fan']);
    await heartbeat(['fan', 'disk-1', 'disk-2', 'disk-3']);
    const last = journal.at(-1);
    expect(last?.type === 'heartbeat' && Object.keys(last.heartbeat.components)).toEqual(['fan', 'disk-1']);
    expect(rejections.list()[0]?.reason).toBe('too_many_components');
    expect(rejections.list()[0]?.detail).toContain(
      '2 more would exceed ingest.max_components_per_device and are left out of its heartbeat: "disk-2", "disk-3"',
    );
    // What a device named before a restart counts: the journal's heartbeats and the device list.
    const restarted = setup();
    restarted.ingest.remember(journal[0]!);
    const metrics = Array.from({ length: 8 }, (_, i) => `m${i}`);
    restarted.ingest.rememberNames('t-1', { metrics, components: ['fan', 'psu'] });
    await restarted.send({ status: 'ok', components: components('disk-1', 'disk-2') }, { kind: 'heartbeat' });
    expect(restarted.rejections.list()[0]?.detail).toContain(
      'already reports 4 components; 2 more would exceed ingest.max_components_per_device and are left out of its heartbeat: "disk-1", "disk-2"',
    );
    expect(await restarted.send({ co2: 600 })).toMatchObject({ accepted: 0, rejected: 1 });
    expect(restarted.rejections.list()[0]?.reason).toBe('too_many_metrics');
  });

  it('refuses hostile ids, oversized payloads and a SenML name for another device', async () => {
    const { send, rejections, journal } = setup({ maxPayloadBytes: 1000 });
    for (const device of ['a b', 'a,b', 'a"b', 'a\\b', 'a\nb', '#', 'ü', '', 'x'.repeat(65)]) {
      await send({ temperature: 20 }, { device });
    }
    await send({ temperature: 20, padding: 'x'.repeat(2000) });
    await send([{ bn: 't-2/', n: 'temperature', v: 20 }]);
    expect(journal).toEqual([]);
    const reasons = rejections.list({ limit: 20 }).map((r) => r.reason);
    expect(reasons.slice(0, 2)).toEqual(['device_mismatch', 'payload_too_large']);
    expect(rejections.total).toBe(11);
    expect(rejections.evicted).toBe(6);
  });

  it('logs a rejecting device at most once a minute', async () => {
    const { send, logged } = setup();
    for (let i = 0; i < 5; i++) await send('{broken');
    await send('{broken', { receivedAt: NOW + 61_000 });
    expect(logged.length).toBe(2);
    expect(logged[0]?.detail).toMatch(/not valid JSON/);
  });

  it('refuses undeclared devices when configured to', async () => {
    const { send, journal, rejections } = setup({ acceptUndeclaredDevices: false });
    await send({ temperature: 20 }, { device: 'stranger' });
    await send({ temperature: 20 });
    expect(journal.length).toBe(1);
    expect(rejections.list()[0]?.reason).toBe('undeclared_device');
  });

  it('journals heartbeats and presence', async () => {
    const { send, journal } = setup();
    await send(
      {
        ts: NOW,
        kind: 'headset',
        status: 'degraded',
        components: { headset: { state: 'degraded', code: 'noise' } },
        uptime_s: 10,
        fw: '1.4.2',
      },
      { kind: 'heartbeat' },
    );
    await send('offline', { kind: 'status' });
    expect(journal).toEqual([
      {
        type: 'heartbeat',
        heartbeat: {
          device: 't-1',
          zone: 'floor-a',
          ts: NOW,
          kind: 'headset',
          status: 'degraded',
          components: { headset: { state: 'degraded', code: 'noise' } },
          uptimeS: 10,
          fw: '1.4.2',
        },
      },
      { type: 'status', status: { subject: 'device', id: 't-1', zone: 'floor-a', status: 'offline', ts: NOW } },
    ]);
    const bad = await send({ status: 'on fire' }, { kind: 'heartbeat' });
    expect(bad.problems[0]?.detail).toMatch(/"status" must be one of ok, degraded, fault/);
    // A firmware version is shown on an operator's terminal and the floor page: one with escapes
    // or a bidi override is left out, and the heartbeat still counts.
    for (const fw of ['\u001b]0;pwned\u0007\u001b[2J', '1.4\u202e2', '1.4\u200b']) {
      const hidden = await send({ status: 'ok', fw }, { kind: 'heartbeat' });
      expect(hidden.problems[0]?.detail).toMatch(
        /^heartbeat "fw" .* holds control or invisible characters; the heartbeat is taken without it$/,
      );
      expect(journal.at(-1)).toMatchObject({ type: 'heartbeat', heartbeat: { status: 'ok' } });
      expect(journal.at(-1)).not.toHaveProperty('heartbeat.fw');
    }
    expect(journal).toHaveLength(5);
  });

  it('takes the device from SenML names on HTTP, where there is no topic', async () => {
    const { send, readings } = setup();
    await send([{ bn: 'h-7/', n: 'noise', u: 'dB(A)', v: 61 }], { source: 'http', device: undefined });
    expect(readings()[0]).toMatchObject<Partial<Reading>>({ device: 'h-7', metric: 'noise', value: 61, zone: '' });
  });
});

describe('a refusal', () => {
  it('quotes at most DETAIL_CHARS of what was sent, and keeps a hostile topic cut', async () => {
    const { send, rejections } = setup();
    // A 64 KiB pack: one base unit of 40,000 characters, which every record after it inherits.
    const pack = [{ bu: 'u'.repeat(40_000) }, ...Array.from({ length: 500 }, () => ({ n: 'temperature', v: 1 }))];
    const outcome = await send(pack, { topic: `floorwatch/devices/t-1/${'t'.repeat(10_000)}` });
    expect(outcome.rejected).toBe(500);
    for (const p of outcome.problems) expect(p.detail.length).toBeLessThanOrEqual(DETAIL_CHARS + 1);
    expect(JSON.stringify(outcome.problems).length).toBeLessThan(500 * 400);
    const [kept] = rejections.list({ limit: 1 });
    expect(kept?.detail).toMatch(/^temperature in "u{80}" is not accepted \(accepted: .+\)$/);
    expect(kept?.topic?.length).toBeLessThanOrEqual(201);
    // The answer lists the first refusals; all are counted.
    expect(outcome.problems).toHaveLength(MAX_PROBLEMS_TOLD);
  });

  it('names a device a SenML pack gave, not yet checked, at most NAME_CHARS long', async () => {
    const { send } = setup();
    const pack = [{ bn: `${'d'.repeat(40_000)}/` }, ...Array.from({ length: 300 }, () => ({ n: 'co2', v: 600 }))];
    const outcome = await send(pack, { source: 'http', device: undefined });
    expect(outcome.rejected).toBe(300);
    expect(outcome.problems.every((p) => (p.device?.length ?? 0) <= NAME_CHARS)).toBe(true);
    expect(JSON.stringify(outcome).length).toBeLessThan(100_000);
  });
});

describe('a metric named as a reading’s time or sequence', () => {
  it('is refused from SenML, as JSON takes ts and seq for the reading’s own', async () => {
    const { send, readings } = setup();
    const outcome = await send([
      { n: 'ts', v: 5 },
      { n: 'seq', v: 6 },
      { n: 'temperature', u: 'Cel', v: 21 },
    ]);
    expect(outcome.problems.map((p) => p.reason)).toEqual(['invalid_metric', 'invalid_metric']);
    expect(readings().map((r) => r.metric)).toEqual(['temperature']);
  });
});

describe('known devices', () => {
  const forgotten = (device: string): Entry => ({ type: 'forgotten', forgotten: { device, by: 'li.wei', at: NOW } });

  it('keeps a device the configuration dropped until it is forgotten, and frees its place then', () => {
    const known = new KnownDevices({ max: 2, configured: ['t-1', 't-2'] });
    known.declare(['t-1'], 2);
    expect(known.isConfigured('t-2')).toBe(false);
    expect(known.knows('t-2')).toBe(true);
    expect(() => known.admit('phone-1')).toThrow(/already knows 2 devices/);
    known.forget('t-2');
    known.forget('t-1');
    expect(known.knows('t-1')).toBe(true);
    known.admit('phone-1');
    expect(known.status()).toMatchObject({ known: 2, refused: 1 });
  });

  it('replays a forgetting in journal order: heard, forgotten, heard again', () => {
    const known = new KnownDevices({ max: 10, configured: [] });
    const heard: Entry = {
      type: 'status',
      status: { subject: 'device', id: 'toString', zone: '', status: 'online', ts: NOW },
    };
    known.remember(heard);
    known.remember(forgotten('toString'));
    expect(known.knows('toString')).toBe(false);
    known.remember(heard);
    expect(known.knows('toString')).toBe(true);
  });

  it('forgets what ingest kept of the device, so a message it sent before is taken again', async () => {
    const { ingest, send, readings } = setup();
    await send({ seq: 1, temperature: 22 });
    ingest.remember(forgotten('t-1'));
    expect(await send({ seq: 1, temperature: 22 })).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(readings()).toHaveLength(2);
  });
});
