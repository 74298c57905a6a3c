// What holds the journal's segments, and what lets them go: a consumer the configuration no
// longer runs is forgotten once the hub has started, and one bounded in how far behind it may be
// (a bridge) passes over the oldest entries it has not handled rather than hold them for good.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../hub/journal/journal.ts';
import { eventually } from './support/hub.ts';
import { collector, journalFixtures, range, reading, segmentFiles } from './support/journal.ts';

describe('what holds the journal', () => {
  const { tempDir, openJournal } = journalFixtures((options) => Journal.open(options));

  it('forgets, when asked, every consumer known from disk that is not running, so what only they held goes', async () => {
    const dir = await tempDir();
    const j1 = await openJournal({ dir, segmentBytes: 512 });
    // A bridge since removed, and rules that keep their own position, left only on disk.
    await j1.consume('bridge-old', () => {}).stop();
    await j1.consume('rules', () => {}, { position: () => 0 }).stop();
    for (let i = 1; i <= 40; i++) await j1.append([reading(i)]);
    await j1.close();
    const before = await segmentFiles(dir);

    const j2 = await openJournal({ dir, segmentBytes: 512 });
    const store = collector();
    const storeHandle = j2.consume('store', store.handler, { commitIntervalMs: 0 });
    await store.until(40);
    await eventually(() => j2.status().consumers.find((c) => c.name === 'store')?.committedLsn === 40, {
      what: "the store's position saved",
    });
    expect(await segmentFiles(dir)).toEqual(before);
    expect((await j2.forgetIdle()).sort()).toEqual(['bridge-old', 'rules']);
    expect(await segmentFiles(dir)).toEqual([before.at(-1)]);
    expect(j2.status().consumers.map((c) => c.name)).toEqual(['store']);
    expect((await readdir(join(dir, 'consumers'))).sort()).toEqual(['store.pos']);
    // The running one is kept.
    expect(await j2.forgetIdle()).toEqual([]);
    await storeHandle.stop();
  });

  it('passes over the oldest entries a consumer bounded in how far behind it may be has not handled, and tells how many', async () => {
    const dir = await tempDir();
    const j = await openJournal({ dir, segmentBytes: 512 });
    let away = true;
    const passed: number[] = [];
    const c = collector();
    j.consume(
      'bridge-site',
      (entries, lastLsn) => {
        if (away) throw Object.assign(new Error('the broker is away'), { code: 'ECONNREFUSED' });
        c.handler(entries, lastLsn);
      },
      {
        keepsAtMost: 10,
        maxBackoffMs: 2,
        commitIntervalMs: 0,
        onPassedOver: (n) => {
          passed.push(n);
          // A faulty reporter stops nothing.
          if (passed.length === 1) throw new Error('the reporter failed');
        },
      },
    );
    for (let i = 1; i <= 50; i++) await j.append([reading(i)]);
    await eventually(() => passed.reduce((a, b) => a + b, 0) === 40, { what: '40 entries passed over' });
    await eventually(() => j.status().consumers.find((c) => c.name === 'bridge-site')?.committedLsn === 40, {
      what: 'the position past them saved',
    });
    // What only it held goes.
    await eventually(async () => Number((await segmentFiles(dir))[0]!.slice(0, 20)) > 30, {
      what: 'the segments before it removed',
    });
    away = false;
    await c.until(10);
    expect(c.got.map((r) => r.lsn)).toEqual(range(41, 50));
  });
});
