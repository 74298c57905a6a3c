// How long the store has left a write or a roll-up unanswered, as the storage_down alert reads it:
// only the store's own calls count, not the time the hub spends setting refused readings aside,
// and a write that hung before it failed counts as down from when it was asked.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../hub/domain/reading.ts';
import { StoreRefusal, StoreUnavailable, type Store } from '../hub/store/store.ts';
import { StoreWriter } from '../hub/store/writer.ts';
import { createMetrics } from '../hub/telemetry/metrics.ts';
import { MINUTE, SECOND, T0 } from './rules-fixtures.ts';

/** A store whose every call waits until the test answers it. */
function heldStore() {
  const calls: Array<{ kind: 'write' | 'rollUp'; resolve: () => void; reject: (err: Error) => void }> = [];
  const call = (kind: 'write' | 'rollUp') =>
    new Promise<void>((resolve, reject) => calls.push({ kind, resolve, reject }));
  const store = { name: 'influxdb', write: () => call('write'), rollUp: () => call('rollUp') } as unknown as Store;
  return { calls, store };
}

const reading = (ts: number, device = 'env-1'): Reading => ({ device, metric: 'co2', value: 600, ts, zone: 'floor-a' });
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** `now`: the hub's clock, which may be stepped; `elapsed`: time that only goes forward. */
function writerOf(
  store: Store,
  clock: { now: number; elapsed: number },
  setAside: () => Promise<void> = async () => {},
) {
  return new StoreWriter({
    store,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    elapsed: () => clock.elapsed,
    setAside,
    minutesWaitingMax: 1000,
  });
}

describe('the store writer’s unanswered calls', () => {
  it('counts a write from when it was asked until it is answered', async () => {
    const clock = { now: T0, elapsed: 0 };
    const { calls, store } = heldStore();
    const writer = writerOf(store, clock);
    expect(writer.unansweredFor()).toBeUndefined();
    const written = writer.write([{ type: 'readings', readings: [reading(T0)] }], 1);
    // The hub's clock stepped an hour on meanwhile: not an hour unanswered.
    clock.now += 60 * MINUTE;
    clock.elapsed += MINUTE;
    expect(writer.unansweredFor()).toBe(MINUTE);
    calls[0]!.resolve();
    await written;
    expect(writer.unansweredFor()).toBeUndefined();
  });

  it('does not count the time refused readings take to be set aside', async () => {
    const clock = { now: T0, elapsed: 0 };
    const { calls, store } = heldStore();
    let recorded!: () => void;
    const writer = writerOf(store, clock, () => new Promise<void>((resolve) => (recorded = resolve)));
    const written = writer.write([{ type: 'readings', readings: [reading(T0)] }], 1);
    calls[0]!.reject(new StoreRefusal('field type conflict'));
    await turn();
    clock.elapsed += MINUTE;
    // The store answered; the hub is writing the set-aside log.
    expect(writer.unansweredFor()).toBeUndefined();
    recorded();
    await written;
  });

  it('counts a write that hung and then failed as down from when it was asked', async () => {
    const clock = { now: T0, elapsed: 0 };
    const { calls, store } = heldStore();
    const writer = writerOf(store, clock);
    const written = writer.write([{ type: 'readings', readings: [reading(T0)] }], 1).catch((err: unknown) => err);
    clock.now += 70 * SECOND;
    calls[0]!.reject(new StoreUnavailable('InfluxDB write timed out'));
    expect(await written).toBeInstanceOf(StoreUnavailable);
    expect(writer.state).toMatchObject({ ok: false, downSince: T0 });
    expect(writer.unansweredFor()).toBeUndefined();
  });

  it('counts a roll-up the store has not answered', async () => {
    const clock = { now: T0, elapsed: 0 };
    const { calls, store } = heldStore();
    const writer = writerOf(store, clock);
    const written = writer.write([{ type: 'readings', readings: [reading(T0)] }], 1);
    calls[0]!.resolve();
    await written;
    // Its minute has closed: the tick rolls it up.
    clock.now += 2 * MINUTE;
    const rolled = writer.rollUpDue();
    await turn();
    expect(calls[1]?.kind).toBe('rollUp');
    clock.elapsed += MINUTE;
    expect(writer.unansweredFor()).toBe(MINUTE);
    calls[1]!.resolve();
    await rolled;
    expect(writer.unansweredFor()).toBeUndefined();
  });
});
