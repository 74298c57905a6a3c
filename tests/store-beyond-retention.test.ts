// A range reaching back further than any minute is kept is read from where the minutes begin: a
// query from 1970 costs the store a day's read per day of the long-term retention, not one per
// day since 1970. Pure: the store's reads are counted here.
import { describe, expect, it } from 'vitest';
import { beyondRetention, type MinuteAggregate } from '../hub/store/minutes.ts';
import type { MinuteQuery } from '../hub/store/store.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);

describe('beyondRetention', () => {
  it('asks for nothing older than the oldest minute kept', async () => {
    const asked: MinuteQuery[] = [];
    const minute: MinuteAggregate = {
      device: 't-1',
      metric: 'temperature',
      zone: 'floor-a',
      ts: NOW - 10 * DAY,
      mean: 21,
      min: 20,
      max: 22,
      count: 4,
    };
    const minutes = async (q: MinuteQuery) => {
      asked.push(q);
      return q.from <= minute.ts && minute.ts < q.to ? [minute] : [];
    };
    const oldest = NOW - 30 * DAY;
    const points = await beyondRetention(
      { zone: 'floor-a', metric: 'temperature', from: 0, to: NOW, agg: 'max', every: 365 * DAY },
      { cutoff: NOW - 7 * DAY, oldest, newest: NOW + DAY },
      minutes,
      async () => [],
    );
    expect(asked.length).toBeLessThanOrEqual(31);
    expect(Math.min(...asked.map((q) => q.from))).toBeGreaterThanOrEqual(oldest - 60_000);
    // Windows stay aligned to the epoch, as every answer's are.
    expect(points).toEqual([{ ts: Math.floor(minute.ts / (365 * DAY)) * 365 * DAY, value: 22 }]);
  });

  it('asks for nothing newer than a reading can be, however far ahead the range ends', async () => {
    const asked: MinuteQuery[] = [];
    const points = await beyondRetention(
      {
        zone: 'floor-a',
        metric: 'noise',
        from: NOW - 20 * DAY,
        to: Date.UTC(9999, 11, 31),
        agg: 'laeq',
        every: 1000 * 365 * DAY,
      },
      { cutoff: NOW - 7 * DAY, oldest: NOW - 30 * DAY, newest: NOW + DAY },
      async (q) => (asked.push(q), []),
      async () => [],
    );
    expect(points).toEqual([]);
    expect(asked.length).toBeLessThanOrEqual(22);
    expect(Math.max(...asked.map((q) => q.to))).toBe(NOW + DAY);
  });
});
