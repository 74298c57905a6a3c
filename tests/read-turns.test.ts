// Read turns: reads past a turn's budget wait for later turns of the event loop, first come first
// served, each told by a 'readable' event; a hand-driven clock stands for the time reads take.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ReadTurns } from '../hub/broker/read-turns.ts';

describe('read turns', () => {
  it('tells waiting streams in later turns, in the order they came, as many as a turn allows', async () => {
    let now = 0;
    const turnsStarted: number[] = [];
    const turns = new ReadTurns({ now: () => now, budgetMs: 5, onTurn: () => turnsStarted.push(now) });
    // Each stream's read, when told, takes 5 ms: a whole turn.
    const told: number[] = [];
    const streams = [0, 1, 2].map((i) => {
      const stream = new PassThrough();
      stream.on('readable', () => {
        told.push(i);
        now += 5;
      });
      return stream;
    });
    expect(turns.spent()).toBe(false);
    now += 5;
    expect(turns.spent()).toBe(true);
    for (const stream of [streams[2]!, streams[0]!, streams[1]!, streams[2]!]) turns.defer(stream);
    now += 3;
    expect(turns.waitedMs()).toBe(3);
    await new Promise(setImmediate);
    expect(told).toEqual([2]);
    await new Promise(setImmediate);
    await new Promise(setImmediate);
    expect(told).toEqual([2, 0, 1]);
    expect(turns.waitedMs()).toBe(0);
    expect(turnsStarted).toEqual([8, 13, 18]);
    // A stream that closes while it waits is forgotten; the rest are told as the hub stops.
    turns.defer(streams[0]!);
    turns.defer(streams[1]!);
    turns.forget(streams[0]!);
    turns.close();
    await new Promise(setImmediate);
    expect(told).toEqual([2, 0, 1, 1]);
    expect(turns.spent()).toBe(false);
  });
});
