// The minutes waiting between the write of their readings and their roll-up: when each is due,
// what the journal position holds at, and what a store that is down or refuses does to them.
import { describe, expect, it } from 'vitest';
import type { Touched } from '../hub/store/minutes.ts';
import { PendingMinutes } from '../hub/store/pending-minutes.ts';
import { StoreRefusal, StoreUnavailable } from '../hub/store/store.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 30, 9);

/** A roll-up that records what it is given, and fails as told. */
function recorder() {
  const calls: Touched[][] = [];
  let fail: Error | undefined;
  let during: (() => void) | undefined;
  return {
    calls,
    failWith(err: Error | undefined) {
      fail = err;
    },
    /** Runs while the next roll-up is under way. */
    meanwhile(fn: () => void) {
      during = fn;
    },
    rollUp: async (touched: readonly Touched[]) => {
      calls.push([...touched]);
      during?.();
      during = undefined;
      if (fail) throw fail;
    },
    /** [metric, device, minute] of every call, sorted. */
    rolled: () =>
      calls
        .flat()
        .flatMap((t) => t.pairs.map(([device, minute]) => `${t.metric} ${device} ${(minute - T0) / MINUTE}`))
        .sort(),
  };
}

const reading = (device: string, metric: string, ts: number) => ({ device, metric, ts });

describe('PendingMinutes', () => {
  it('rolls a minute up once it has closed and settled, each (device, metric) once, and holds the journal until then', async () => {
    let now = T0 + 10_000;
    const store = recorder();
    const pending = new PendingMinutes({ rollUp: store.rollUp, now: () => now, max: 1000 });
    pending.add([reading('d1', 'co2', T0 + 1000), reading('d2', 'co2', T0 + 2000), reading('d1', 'co2', T0 + 3000)], 0);
    pending.add([reading('d1', 'co2', T0 + 61_000)], 3);
    expect(pending.size).toBe(3);
    expect(pending.held()).toBe(0);

    now = T0 + MINUTE + 4_999;
    expect(await pending.rollUp()).toEqual({ rolled: 0, dropped: 0 });
    now = T0 + MINUTE + 5_000;
    expect(await pending.rollUp()).toEqual({ rolled: 2, dropped: 0 });
    expect(store.rolled()).toEqual(['co2 d1 0', 'co2 d2 0']);
    // The next minute still waits, and with it the entries after LSN 3.
    expect(pending.held()).toBe(3);
    expect(await pending.rollUp(true)).toEqual({ rolled: 1, dropped: 0 });
    expect(pending.held()).toBeUndefined();
    expect(pending.size).toBe(0);
  });

  it('a late reading makes its minute due at once; a minute ahead of the clock is rolled up after it has waited a minute', async () => {
    let now = T0 + 10 * MINUTE;
    const store = recorder();
    const pending = new PendingMinutes({ rollUp: store.rollUp, now: () => now, max: 1000 });
    pending.add([reading('late', 'noise', T0 + 1000), reading('ahead', 'noise', T0 + 60 * MINUTE)], 7);
    await pending.rollUp();
    expect(store.rolled()).toEqual(['noise late 0']);
    now += MINUTE + 5000;
    await pending.rollUp();
    expect(store.rolled()).toEqual(['noise ahead 60', 'noise late 0']);
  });

  it('takes names like __proto__ and constructor as any other', async () => {
    const store = recorder();
    const pending = new PendingMinutes({ rollUp: store.rollUp, now: () => T0 + 10 * MINUTE, max: 1000 });
    pending.add([reading('__proto__', 'constructor', T0), reading('toString', '__proto__', T0)], 0);
    await pending.rollUp();
    expect(store.rolled()).toEqual(['__proto__ toString 0', 'constructor __proto__ 0']);
  });

  it('a store that is down leaves the minutes waiting with what came for them meanwhile; the next roll-up takes them all', async () => {
    const now = T0 + 10 * MINUTE;
    const store = recorder();
    const pending = new PendingMinutes({ rollUp: store.rollUp, now: () => now, max: 1000 });
    pending.add([reading('d1', 'co2', T0), reading('d2', 'co2', T0 + MINUTE)], 4);
    store.failWith(new StoreUnavailable('connection refused'));
    // A reading for the same minute and one for a new minute land while the failing roll-up runs.
    store.meanwhile(() => pending.add([reading('d3', 'co2', T0), reading('d1', 'co2', T0 + 2 * MINUTE)], 9));
    await expect(pending.rollUp()).rejects.toThrow(StoreUnavailable);
    expect(pending.size).toBe(4);
    expect(pending.held()).toBe(4);
    store.failWith(undefined);
    store.calls.length = 0;
    expect(await pending.rollUp()).toEqual({ rolled: 4, dropped: 0 });
    expect(store.rolled()).toEqual(['co2 d1 0', 'co2 d1 2', 'co2 d2 1', 'co2 d3 0']);
    expect(pending.held()).toBeUndefined();
  });

  it('minutes the store refuses for good are dropped with its reason and hold nothing back', async () => {
    const store = recorder();
    const pending = new PendingMinutes({ rollUp: store.rollUp, now: () => T0 + 10 * MINUTE, max: 1000 });
    pending.add([reading('d1', 'co2', T0)], 2);
    store.failWith(new StoreRefusal('field type conflict'));
    expect(await pending.rollUp()).toEqual({ rolled: 0, dropped: 1, reason: 'field type conflict' });
    expect(pending.held()).toBeUndefined();
    expect(pending.size).toBe(0);
  });

  it('is full at its bound, counting each (device, metric, minute) once', () => {
    const pending = new PendingMinutes({ rollUp: async () => undefined, now: () => T0, max: 3 });
    pending.add([reading('d1', 'co2', T0), reading('d1', 'co2', T0 + 1), reading('d2', 'co2', T0)], 0);
    expect(pending.full).toBe(false);
    pending.add([reading('d1', 'noise', T0)], 3);
    expect(pending.full).toBe(true);
  });

  it('one roll-up at a time: a second call waits for the first and finds nothing left', async () => {
    const store = recorder();
    const pending = new PendingMinutes({ rollUp: store.rollUp, now: () => T0 + 10 * MINUTE, max: 1000 });
    pending.add([reading('d1', 'co2', T0)], 0);
    const [a, b] = await Promise.all([pending.rollUp(), pending.rollUp(true)]);
    expect([a.rolled, b.rolled]).toEqual([1, 0]);
    expect(store.calls).toHaveLength(1);
  });
});
