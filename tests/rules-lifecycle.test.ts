// The rules' lifecycle as a pure step: one observation of each kind at an injected `now`, no
// ledger, no clock, no services; and ids named after what every object has (`__proto__`,
// `constructor`, `toString`) going through it as ordinary ids.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeDevice, encodeDevice, Lifecycle, type Observation } from '../hub/rules/lifecycle.ts';
import { RuleBook } from '../hub/rules/rulebook.ts';
import {
  emptyRuleState as empty,
  healthyHub as healthy,
  lifecycleSettings as settings,
  MINUTE,
  SECOND,
  T0,
} from './rules-fixtures.ts';

const reading = (device: string, metric: string, value: number, ts: number, zone = 'floor-a'): Observation => ({
  type: 'readings',
  readings: [{ device, metric, value, ts, zone }],
});
const beat = (device: string, state: 'ok' | 'degraded' | 'fault', ts: number, code?: string): Observation => ({
  type: 'heartbeat',
  heartbeat: {
    device,
    zone: 'floor-a',
    ts,
    kind: 'headset',
    status: state,
    components: { headset: { state, ...(code !== undefined && { code }) } },
  },
});

afterEach(() => vi.restoreAllMocks());

describe('step, one observation type at a time', () => {
  it('readings are judged at their own event time, whatever `now` is; a late one joins the windows without being judged', () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    // Winter office: 27 °C is past the critical 26, which must hold 15 minutes.
    const first = life.step(state, reading('t-1', 'temperature', 27, T0), 0);
    expect(first.events).toEqual([
      expect.objectContaining({
        key: 'temperature.t-1',
        rule: 'temperature',
        subject: 't-1',
        zone: 'floor-a',
        state: 'pending',
        severity: 'critical',
        at: T0,
        value: 27,
        threshold: 26,
      }),
    ]);
    expect(first.state).toBe(state);
    expect([...first.changed]).toEqual(['t-1']);
    expect(life.step(state, reading('t-1', 'temperature', 27, T0 + 14 * MINUTE), 0).events[0]).toMatchObject({
      state: 'pending',
    });
    const fired = life.step(state, reading('t-1', 'temperature', 27, T0 + 15 * MINUTE), T0 - 99 * MINUTE);
    expect(fired.events[0]).toMatchObject({ state: 'firing', severity: 'critical', at: T0 + 15 * MINUTE, unit: 'Cel' });
    expect(fired.events[0]?.summary).toMatch(
      /^temperature \(winter\) at t-1 in floor-a: 27 °C, above the critical limit 26 °C/,
    );
    // Older than the evaluation point: counted in the windows, not judged.
    expect(life.step(state, reading('t-1', 'temperature', 21, T0 + 5 * MINUTE), 0).events).toEqual([]);
    expect(state.devices.get('t-1')?.tracks.get('temperature')?.last).toBe(T0 + 15 * MINUTE);
  });

  it('a heartbeat fires the faults it reports and resolves those it no longer reports', () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    const degraded = life.step(state, beat('h-1', 'degraded', T0, 'noise'), T0);
    expect(degraded.events).toEqual([
      expect.objectContaining({
        key: 'equipment.headset.h-1',
        state: 'firing',
        severity: 'warning',
        summary: 'headset h-1 in floor-a: headset degraded: call noise',
      }),
    ]);
    expect(life.step(state, beat('h-1', 'fault', T0 + MINUTE, 'dropout'), T0).events).toEqual([
      expect.objectContaining({ key: 'equipment.headset.h-1', state: 'firing', severity: 'critical' }),
    ]);
    // A repeated or older heartbeat says nothing new.
    expect(life.step(state, beat('h-1', 'ok', T0 + MINUTE), T0).events).toEqual([]);
    expect(life.step(state, beat('h-1', 'ok', T0 + 2 * MINUTE), T0).events).toEqual([
      expect.objectContaining({ key: 'equipment.headset.h-1', state: 'ok', at: T0 + 2 * MINUTE }),
    ]);
  });

  it('a low battery and a weak signal warn once past their limit and clear only well inside it', () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    const report = (ts: number, battery: number, rssi?: number): Observation => {
      const hb = beat('h-1', 'ok', ts);
      if (hb.type !== 'heartbeat') throw new Error('a heartbeat');
      return { ...hb, heartbeat: { ...hb.heartbeat, battery, ...(rssi !== undefined && { rssi }) } };
    };
    const keys = (ts: number, battery: number, rssi?: number) =>
      life.step(state, report(ts, battery, rssi), T0).events.map((e) => `${e.key} ${e.state}`);
    expect(keys(T0, 21, -80)).toEqual([]);
    const low = life.step(state, report(T0 + MINUTE, 20, -86), T0).events;
    expect(low).toEqual([
      expect.objectContaining({
        key: 'equipment.battery_low.h-1',
        state: 'firing',
        severity: 'warning',
        summary: 'headset h-1 in floor-a: battery low: 20 %, at or below 20 % (clears at 25 %)',
        code: 'battery_low',
      }),
      expect.objectContaining({ key: 'equipment.weak_signal.h-1', state: 'firing', value: -86, threshold: -85 }),
    ]);
    // Wavering around the limit says nothing more; a heartbeat without a level leaves it as it was.
    for (const [i, level] of [22, 19, 24, 21].entries()) expect(keys(T0 + (2 + i) * MINUTE, level, -82)).toEqual([]);
    expect(life.step(state, beat('h-1', 'ok', T0 + 7 * MINUTE), T0).events).toEqual([]);
    expect(keys(T0 + 8 * MINUTE, 25, -80)).toEqual(['equipment.battery_low.h-1 ok', 'equipment.weak_signal.h-1 ok']);
    expect(keys(T0 + 9 * MINUTE, 21, -84)).toEqual([]);
  });

  it('a component named battery_low is told apart from the battery the hub judges: neither resolves the other', () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    const keys = (ts: number, battery: number, component: 'ok' | 'degraded') => {
      const hb = { device: 'h-1', zone: 'floor-a', ts, kind: 'headset', status: component, battery } as const;
      const report: Observation = {
        type: 'heartbeat',
        heartbeat: { ...hb, components: { battery_low: { state: component } } },
      };
      return life.step(state, report, T0).events.map((e) => `${e.key} ${e.state}`);
    };
    expect(keys(T0, 15, 'degraded')).toEqual([
      'equipment.battery_low.reported.h-1 firing',
      'equipment.battery_low.h-1 firing',
    ]);
    // The device's own report goes ok; the battery is still at 15 %.
    expect(keys(T0 + MINUTE, 15, 'ok')).toEqual(['equipment.battery_low.reported.h-1 ok']);
    expect(keys(T0 + 2 * MINUTE, 30, 'ok')).toEqual(['equipment.battery_low.h-1 ok']);
  });

  it('a gateway going offline raises one alert at the tick for the devices behind it, and its return resolves it', () => {
    // One device behind it, said in the singular (the plural is in rules-engine's 20 devices).
    const life = new Lifecycle(settings({ gatewayOf: new Map([['s-1', 'gw-1']]) }), T0);
    const state = empty();
    const offline = life.step(
      state,
      { type: 'status', status: { subject: 'gateway', id: 'gw-1', zone: 'floor-a', status: 'offline', ts: T0 } },
      T0,
    );
    expect(offline.events).toEqual([]);
    expect(offline.gatewaysChanged).toBe(true);
    const tick = life.step(state, { type: 'tick' }, T0 + 10 * MINUTE);
    expect(tick.events.map((e) => `${e.state} ${e.key} ${e.severity}`)).toEqual([
      'firing gateway_offline.gw-1 critical',
    ]);
    expect(tick.events[0]?.summary).toMatch(/the offline alerts of the 1 device behind it are held/);
    const back = life.step(
      state,
      {
        type: 'status',
        status: { subject: 'gateway', id: 'gw-1', zone: 'floor-a', status: 'online', ts: T0 + 11 * MINUTE },
      },
      T0,
    );
    expect(back.events).toEqual([
      expect.objectContaining({ key: 'gateway_offline.gw-1', state: 'ok', at: T0 + 11 * MINUTE }),
    ]);
    expect(state.gateways.get('gw-1')?.backAt).toBe(T0 + 11 * MINUTE);
    // A device's birth is recorded and judged at the next tick, not now.
    expect(
      life.step(
        state,
        { type: 'status', status: { subject: 'device', id: 'pc-1', zone: 'floor-a', status: 'online', ts: T0 } },
        T0,
      ).events,
    ).toEqual([]);
    expect(state.devices.get('pc-1')?.life.presence).toEqual({ status: 'online', at: T0 });
  });

  it('the tick finds a declared device silent for 3 intervals at `now`, only once the start-up grace is over', () => {
    const devices = new Map([['pc-1', { kind: 'pc' as const, zone: 'floor-a', intervalMs: MINUTE, battery: false }]]);
    const life = new Lifecycle(settings({ devices, startupGraceMs: 5 * MINUTE }), T0);
    const state = empty();
    expect(life.step(state, { type: 'tick' }, T0 + 4 * MINUTE).events).toEqual([]);
    const silent = life.step(state, { type: 'tick' }, T0 + 5 * MINUTE);
    expect(silent.events).toEqual([
      expect.objectContaining({ key: 'offline.pc-1', state: 'firing', severity: 'warning', at: T0 + 5 * MINUTE }),
    ]);
    expect(silent.events[0]?.summary).toBe('pc pc-1 in floor-a is offline: never heard from (reports every 60 s)');
    expect(life.step(state, { type: 'tick' }, T0 + 5 * MINUTE + SECOND).events).toEqual([]);
    expect(life.step(state, { type: 'tick' }, T0 + 11 * MINUTE).events).toEqual([
      expect.objectContaining({ key: 'offline.pc-1', severity: 'critical' }),
    ]);
  });
});

describe('step is pure', () => {
  const observations: [Observation, number][] = [
    [reading('c-1', 'co2', 1600, T0), T0],
    [reading('n-1', 'noise', 86, T0 + MINUTE), T0],
    [beat('h-1', 'fault', T0 + MINUTE, 'dropout'), T0],
    [reading('c-1', 'co2', 1700, T0 + 11 * MINUTE), T0],
    [
      {
        type: 'status',
        status: { subject: 'device', id: 'c-1', zone: 'floor-a', status: 'offline', ts: T0 + 12 * MINUTE },
      },
      T0,
    ],
    [{ type: 'tick' }, T0 + 20 * MINUTE],
    [{ type: 'hub', hub: healthy }, T0 + 20 * MINUTE],
  ];

  it('reads no clock: the same state, observations and `now` give the same findings and state, in 2001 as in 2041', () => {
    const run = (wallClock: number) => {
      vi.setSystemTime(wallClock);
      const noClock = vi.spyOn(Date, 'now').mockImplementation(() => {
        throw new Error('the lifecycle read the clock');
      });
      try {
        const life = new Lifecycle(settings({ startupGraceMs: 0 }), T0);
        const state = empty();
        const events = observations.flatMap(([o, now]) => life.step(state, o, now).events);
        return { events, state: JSON.stringify([...state.devices].map(([id, d]) => [id, encodeDevice(d)])) };
      } finally {
        noClock.mockRestore();
      }
    };
    vi.useFakeTimers();
    try {
      const first = run(new Date(2001, 6, 1).getTime());
      expect(first.events.map((e) => `${e.key} ${e.state}`)).toEqual(
        expect.arrayContaining(['co2.c-1 firing', 'equipment.headset.h-1 firing', 'offline.c-1 firing']),
      );
      expect(run(new Date(2041, 0, 1).getTime())).toEqual(first);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a device state survives its encoding for the ledger', () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    for (const [o, now] of observations) life.step(state, o, now);
    for (const [id, d] of state.devices)
      expect(decodeDevice(JSON.parse(JSON.stringify(encodeDevice(d))))).toEqual(state.devices.get(id));
  });
});

describe('ids named after what every object has', () => {
  const ids = ['__proto__', 'constructor', 'toString'];

  it('are devices, zones and metrics like any other, and nothing leaks onto Object.prototype', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const devices = new Map(
      ids.map((id) => [id, { kind: 'sensor' as const, zone: id, intervalMs: MINUTE, battery: false }]),
    );
    const book = new RuleBook({
      zones: new Map(ids.map((id) => [id, { type: 'server_room' as const }])),
      site: {},
      season: 'winter',
    });
    const life = new Lifecycle(settings({ book, devices, gatewayOf: new Map([['constructor', 'toString']]) }), T0);
    const state = empty();
    const found: string[] = [];
    for (const id of ids) {
      // A metric no requirement watches, named like a prototype member: no requirement, a track of its own.
      for (const o of [reading(id, 'temperature', 31, T0, id), reading(id, id, 1, T0, id), beat(id, 'fault', T0)])
        found.push(...life.step(state, o, T0).events.map((e) => `${e.key} ${e.state}`));
      found.push(
        ...life
          .step(state, { type: 'status', status: { subject: 'gateway', id, zone: id, status: 'offline', ts: T0 } }, T0)
          .events.map((e) => e.key),
      );
    }
    found.push(...life.step(state, { type: 'tick' }, T0 + 30 * MINUTE).events.map((e) => `${e.key} ${e.state}`));
    for (const id of ids) {
      expect(found).toContain(`temperature.${id} pending`);
      expect(found).toContain(`equipment.headset.${id} firing`);
      expect(found).toContain(`gateway_offline.${id} firing`);
      const d = state.devices.get(id)!;
      expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
      expect([...d.tracks.keys()]).toEqual(['temperature', id]);
      expect(d.thresholds.get('temperature')?.limits).toHaveLength(4);
      expect(decodeDevice(JSON.parse(JSON.stringify(encodeDevice(d))))).toEqual(d);
    }
    // Behind the gateway 'toString', which is down: held; the others are silent past 3 intervals.
    expect(found).not.toContain('offline.constructor firing');
    expect(found).toContain('offline.__proto__ firing');
    expect([...state.devices.keys()]).toEqual(ids);
    expect([...state.gateways.keys()]).toEqual(ids);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).zone).toBeUndefined();
  });
});
