// Every time parameter of every route, under generated input, against a hub on real InfluxDB and
// one on SQLite: a time the hub cannot handle is a 400 that names the parameter, never a 5xx.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestHub, storeCaughtUp, type TestHub } from './support/hub.ts';

const CONFIG = { zones: [{ id: 'floor-a' }] };

/** Text a person or a probe might put where a time goes. */
const timeText = fc.oneof(
  fc.stringMatching(/^-?[0-9]{1,40}$/),
  fc
    .tuple(
      fc.oneof(
        fc.bigInt({ min: 0n, max: 10n ** 24n }).map(String),
        fc.double({ min: 0, max: 1e22, noNaN: true }).map(String),
      ),
      fc.constantFrom('ms', 's', 'm', 'h', 'd', 'w'),
    )
    .map(([amount, unit]) => `-${amount}${unit}`),
  fc
    .tuple(
      fc.integer({ min: -300_000, max: 300_000 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.constantFrom('', 'T00:00:00Z', 'T23:59:59.999Z', 'T12:00:00+14:00'),
    )
    .map(
      ([year, month, day, time]) =>
        `${year < 0 ? '-' : ''}${String(Math.abs(year)).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}${time}`,
    ),
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '0',
    '-0',
    '-1',
    '253402300799999',
    '253402300800000',
    '8640000000000000',
    '8640000000000001',
    '-8640000000000001',
    '9223372036854775807',
    '9999-12-31T23:59:59.999Z',
    '10000-01-01',
    '1969-12-31T23:59:59.999Z',
    '1677-09-21',
    '2262-04-12',
    '+275760-09-13T00:00:00.000Z',
    '-1000000000000w',
    '-1e3m',
    '-0.0001s',
    'NaN',
    'Infinity',
    'now',
    '-',
    '',
    ' ',
    '__proto__',
  ),
  fc.string({ maxLength: 30 }),
);

/** Durations where a route takes one beside its times. */
const durationText = fc.oneof(
  fc
    .tuple(
      fc.oneof(
        fc.bigInt({ min: 0n, max: 10n ** 24n }).map(String),
        fc.double({ min: 0, max: 1e22, noNaN: true }).map(String),
      ),
      fc.constantFrom('ms', 's', 'm', 'h', 'd', 'w'),
    )
    .map(([a, u]) => `${a}${u}`),
  fc.constantFrom('1m', '1.0001s', '366d', '367d', '0s', '999ms'),
  fc.string({ maxLength: 12 }),
);

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) q.set(name, value);
  return q.toString();
}

interface Case {
  route: string;
  /** The parameters that take a time or a duration: a 400 must name one of them. */
  names: string[];
  request: fc.Arbitrary<{ path: string; init?: RequestInit & { body: string } }>;
}

const CASES: Case[] = [
  {
    route: 'GET /api/v1/readings (raw)',
    names: ['from', 'to'],
    request: fc
      .record({ from: maybe(timeText), to: maybe(timeText) })
      .map((t) => ({ path: `/api/v1/readings?${query({ device: 't-1', metric: 'temperature', ...t })}` })),
  },
  {
    route: 'GET /api/v1/readings (windows)',
    names: ['from', 'to', 'every'],
    request: fc
      .record({
        from: maybe(timeText),
        to: maybe(timeText),
        every: durationText,
        agg: fc.constantFrom('mean', 'laeq', 'max'),
      })
      .map((t) => ({ path: `/api/v1/readings?${query({ zone: 'floor-a', metric: 'noise', ...t })}` })),
  },
  {
    route: 'GET /api/v1/reports/shift',
    names: ['from', 'to'],
    request: fc
      .record({ from: maybe(timeText), to: maybe(timeText), format: maybe(fc.constantFrom('json', 'html')) })
      .map((t) => ({ path: `/api/v1/reports/shift?${query(t)}` })),
  },
  {
    route: 'GET /api/v1/reports/equipment',
    names: ['from', 'to'],
    request: fc
      .record({ from: maybe(timeText), to: maybe(timeText) })
      .map((t) => ({ path: `/api/v1/reports/equipment?${query(t)}` })),
  },
  {
    route: 'POST /api/v1/silences',
    names: ['startsAt', 'endsAt', 'duration'],
    request: fc
      .record({
        startsAt: maybe(fc.oneof(timeText, fc.double())),
        endsAt: maybe(fc.oneof(timeText, fc.double())),
        duration: maybe(durationText),
      })
      .map((t) => ({
        path: '/api/v1/silences',
        init: {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ matchers: { device: 't-1' }, createdBy: 'li.wei', ...t }),
        },
      })),
  },
];

describe.each([
  { store: 'InfluxDB', influx: true },
  { store: 'SQLite', influx: false },
])('time parameters on $store', ({ influx }) => {
  let hub: TestHub;

  beforeAll(async () => {
    hub = await startTestHub({
      config: CONFIG,
      ...(influx && { influxUrl: `${inject('influxUrl')}/times_${Date.now()}` }),
    });
    const reading = JSON.stringify([{ bn: 't-1/', n: 'temperature', u: 'Cel', v: 21.5 }]);
    expect(
      (
        await hub.api('/api/v1/readings', {
          method: 'POST',
          headers: { 'content-type': 'application/senml+json' },
          body: reading,
        })
      ).status,
    ).toBe(200);
    await storeCaughtUp(hub);
  });
  afterAll(async () => hub?.dispose());

  it('answers 400 naming the parameter for times beyond the date range', async () => {
    const cases: Array<[string, string]> = [
      [`/api/v1/readings?device=t-1&metric=temperature&from=${'9'.repeat(40)}`, 'from'],
      ['/api/v1/readings?device=t-1&metric=temperature&to=-1000000000000w', 'to'],
      ['/api/v1/reports/shift?to=-1000000000000w', 'to'],
      [`/api/v1/reports/equipment?from=${'1'.repeat(40)}`, 'from'],
      ['/api/v1/readings?zone=floor-a&metric=noise&agg=laeq&every=100000000000000000000000ms', 'every'],
    ];
    for (const [path, name] of cases) {
      const response = await hub.api(path);
      const body = (await response.json()) as { message: string };
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
      expect(body.message.startsWith(`${name}=`)).toBe(true);
    }
    const far = await hub.api(`/api/v1/readings?device=t-1&metric=temperature&from=${'9'.repeat(40)}`);
    expect(((await far.json()) as { message: string }).message).toMatch(
      /outside the times the hub can handle: give one from 1970-01-01 to 9999-12-31/,
    );
  });

  it('still answers the times it can handle', async () => {
    const response = await hub.api('/api/v1/readings?device=t-1&metric=temperature&from=0&to=9999-12-31T23:59:59.999Z');
    expect(response.status).toBe(200);
    expect(((await response.json()) as { points: unknown[] }).points).toHaveLength(1);
    expect((await hub.api('/api/v1/reports/equipment?from=1970-01-01&to=1970-06-01')).status).toBe(200);
    // Windows to the end of the range: minutes are read only up to where a reading can be.
    const windows = await hub.api(
      '/api/v1/readings?zone=floor-a&metric=temperature&agg=max&every=366d&from=0&to=9999-12-31T23:59:59.999Z',
    );
    expect(windows.status).toBe(200);
  });

  it.each(CASES)('$route: never a 5xx, and a 400 names the parameter', async ({ names, request }) => {
    await fc.assert(
      fc.asyncProperty(request, async ({ path, init }) => {
        const response = await hub.api(path, init);
        const text = await response.text();
        expect(response.status, `${path} ${init?.body ?? ''} → ${text}`).toBeLessThan(500);
        if (response.status === 400) {
          const { message } = JSON.parse(text) as { message: string };
          expect(
            names.some((n) => message.includes(n)),
            `${path} → ${message}`,
          ).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });
});
