// The suite every journal must pass, whatever it keeps its entries in: appends acknowledged in
// order and only once durable; delivery to consumers from their positions, the journal's or their
// own; restarts; a write torn by a crash; removal of entries only once every consumer is past them;
// entries a consumer cannot handle set aside; transient failures waited out; how far behind a
// consumer is. A journal under test says how to open it, what a crash in the middle of an append
// leaves in its directory, and which consumers' positions it holds itself.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../hub/domain/reading.ts';
import { systemClock, type Journal, type JournalOptions } from '../hub/journal/journal.ts';
import { SetAsideLog } from '../hub/journal/set-aside.ts';
import { eventually } from './support/hub.ts';
import { collector, journalFixtures, latch, range, readAll, reading } from './support/journal.ts';

export interface JournalUnderTest {
  open: (options: JournalOptions) => Promise<Journal>;
  /** Does to a closed journal's directory what a crash in the middle of an append leaves there. */
  tearTail: (dir: string) => Promise<void>;
  /** The consumers whose positions the journal itself holds on disk in `dir`. */
  savedPositions: (dir: string) => Promise<string[]>;
}

export function describeJournalContract(name: string, { open, tearTail, savedPositions }: JournalUnderTest): void {
  describe(`Journal contract: ${name}`, () => {
    const { tempDir, openJournal, atCleanup } = journalFixtures(open);

    /** The oldest entry still retained. */
    async function oldest(j: Journal): Promise<number | undefined> {
      for await (const r of j.readAll(1)) return r.lsn;
      return undefined;
    }

    it('acknowledges appends in the order they were made, each once its entries are durable, with consecutive LSNs', async () => {
      const dir = await tempDir();
      const j = await openJournal({ dir });
      const acknowledged: number[] = [];
      const appends = range(1, 200).map((i) =>
        j.append([reading(i), reading(1000 + i)]).then((lsn) => {
          expect(j.status().durableLsn).toBeGreaterThanOrEqual(lsn);
          acknowledged.push(lsn);
          return lsn;
        }),
      );
      // What cannot be written is refused on its own; the appends around it go on.
      const unwritable = {
        type: 'readings',
        readings: [{ device: 'd-1', metric: 'co2', value: 10n, ts: 1, zone: '' }],
      } as unknown as Entry;
      await expect(j.append([unwritable])).rejects.toThrow(/BigInt/);
      expect(await Promise.all(appends)).toEqual(range(1, 200).map((i) => 2 * i));
      expect(acknowledged).toEqual(range(1, 200).map((i) => 2 * i));
      expect(await j.append([reading(201)])).toBe(401);
      expect((await readAll(j)).map((r) => r.entry)).toEqual([
        ...range(1, 200).flatMap((i) => [reading(i), reading(1000 + i)]),
        reading(201),
      ]);
      expect(j.status()).toMatchObject({ writable: true, durableLsn: 401, lastLsn: 401 });
    });

    it('after a restart holds everything acknowledged, and goes on after the last LSN', async () => {
      const dir = await tempDir();
      const j1 = await openJournal({ dir });
      for (let i = 1; i <= 5; i++) await j1.append([reading(i)]);
      await j1.close();
      const j2 = await openJournal({ dir });
      expect(await readAll(j2)).toEqual(range(1, 5).map((i) => ({ lsn: i, entry: reading(i) })));
      expect(await j2.append([reading(6)])).toBe(6);
      expect(await readAll(j2, 5)).toEqual([5, 6].map((i) => ({ lsn: i, entry: reading(i) })));
    });

    it('loses nothing acknowledged to a write a crash tore: the torn tail is dropped and appends go on', async () => {
      const dir = await tempDir();
      const j1 = await openJournal({ dir });
      for (let i = 1; i <= 5; i++) await j1.append([reading(i), reading(100 + i)]);
      await j1.close();
      await tearTail(dir);
      const j2 = await openJournal({ dir });
      const expected = range(1, 5).flatMap((i) => [reading(i), reading(100 + i)]);
      expect((await readAll(j2)).map((r) => r.entry)).toEqual(expected);
      expect(await j2.append([reading(6)])).toBe(11);
      await j2.close();
      const j3 = await openJournal({ dir });
      expect((await readAll(j3)).map((r) => r.entry)).toEqual([...expected, reading(6)]);
    });

    it('removes entries only once every consumer is past them: one that keeps its own position, and one not heard from since a restart, hold them', async () => {
      const dir = await tempDir();
      let rulesAt = 0;
      const j1 = await openJournal({ dir, segmentBytes: 512 });
      const rules = j1.consume('rules', () => {}, { position: () => rulesAt });
      const store = collector();
      const storeHandle = j1.consume('store', store.handler, { commitIntervalMs: 0 });
      for (let i = 1; i <= 40; i++) await j1.append([reading(i)]);
      await store.until(40);
      // The store is past everything; the rules have made nothing durable.
      await storeHandle.stop();
      expect(await oldest(j1)).toBe(1);
      // The rules have made entry 30 durable: what only they held may go, nothing after it.
      rulesAt = 30;
      await j1.append([reading(41)]);
      await eventually(async () => ((await oldest(j1)) ?? 0) > 1, {
        what: 'entries all consumers are past to be removed',
      });
      expect(await oldest(j1)).toBeLessThanOrEqual(31);
      await rules.stop();
      await j1.close();

      // After a restart (the oldest read after it), nothing goes until the rules say where they are.
      const j2 = await openJournal({ dir, segmentBytes: 512 });
      const first = (await oldest(j2))!;
      expect(first > 1 && first <= 31).toBe(true);
      const again = collector();
      j2.consume('store', again.handler, { commitIntervalMs: 0 });
      for (let i = 42; i <= 80; i++) await j2.append([reading(i)]);
      await again.until(40);
      expect(await oldest(j2)).toBe(first);
      rulesAt = 70;
      j2.consume('rules', () => {}, { position: () => rulesAt });
      await j2.append([reading(81)]);
      await eventually(async () => ((await oldest(j2)) ?? 0) > first, {
        what: 'entries all consumers are past to be removed',
      });
      expect(await oldest(j2)).toBeLessThanOrEqual(71);
      expect((await readAll(j2)).at(-1)?.lsn).toBe(81);
    });

    it('a consumer that keeps its own position and fails on one entry gets every other entry after its position, that one never again', async () => {
      const dir = await tempDir();
      const setAside = await SetAsideLog.open({ path: join(dir, 'set-aside.jsonl'), capacity: 100, now: () => 42 });
      atCleanup(() => void setAside.close());
      const j = await openJournal({ dir, setAside });
      await j.append(range(1, 12).map((i) => reading(i)));
      // Like the rule engine: state in memory, saved with its position every few entries, and
      // reverting to that save when a batch fails.
      let durable = 0;
      let state: number[] = [];
      const done = new Promise<void>((resolve) =>
        j.consume(
          'rules',
          (entries, lastLsn) => {
            const lsns = range(lastLsn - entries.length + 1, lastLsn);
            if (lsns.includes(8)) {
              state = state.filter((lsn) => lsn <= durable);
              throw new TypeError("Cannot read properties of undefined (reading 'value')");
            }
            for (const lsn of lsns) if (lsn > (state.at(-1) ?? durable)) state.push(lsn);
            if (lastLsn - durable >= 4) durable = lastLsn;
            if (lastLsn === 12) resolve();
          },
          { position: () => durable, maxBatch: 3, maxBackoffMs: 5 },
        ),
      );
      await done;
      expect(state).toEqual(range(1, 12).filter((lsn) => lsn !== 8));
      expect(setAside.list()).toEqual([expect.objectContaining({ stage: 'rules', reason: 'consumer_failed', lsn: 8 })]);
    });

    it('wakes a caught-up consumer on every durable append', async () => {
      const dir = await tempDir();
      const j = await openJournal({ dir });
      const c = collector();
      j.consume('rules', c.handler);
      for (let i = 1; i <= 20; i++) {
        // Reading back needs no I/O, the append does: the consumer is idle before each append lands.
        expect(await j.append([reading(i)])).toBe(i);
        await c.until(i);
      }
      expect(c.got.map((r) => r.lsn)).toEqual(range(1, 20));
      expect(c.calls.length).toBeGreaterThanOrEqual(2);
    }, 10_000);

    it('replays after reopen from the committed position; new consumers start per `from`', async () => {
      const dir = await tempDir();
      const j1 = await openJournal({ dir });
      for (let i = 1; i <= 10; i++) await j1.append([reading(i)]);
      const first = collector();
      const h = j1.consume('rules', first.handler, { maxBatch: 3 });
      await first.until(10);
      await h.stop();
      await j1.append([11, 12, 13, 14, 15].map((i) => reading(i)));
      await j1.close();

      const j2 = await openJournal({ dir });
      expect(j2.status().consumers).toEqual([{ name: 'rules', committedLsn: 10, lag: 5 }]);
      const again = collector();
      j2.consume('rules', again.handler);
      const late = collector();
      j2.consume('late', late.handler, { from: 'end' });
      await again.until(5);
      await j2.append([reading(16)]);
      await again.until(6);
      await late.until(1);
      // Entries every consumer was past may be gone; a new consumer starts at the oldest one kept.
      const retained = (await readAll(j2)).map((r) => r.lsn);
      expect(retained).toEqual(range(retained[0]!, 16));
      expect(retained[0]).toBeLessThanOrEqual(11);
      const fresh = collector();
      j2.consume('fresh', fresh.handler);
      await fresh.until(retained.length);

      expect(again.got.map((r) => r.lsn)).toEqual(range(11, 16));
      expect(again.got.map((r) => r.entry)).toEqual(range(11, 16).map((i) => reading(i)));
      expect(late.got.map((r) => r.lsn)).toEqual([16]);
      expect(fresh.got.map((r) => r.lsn)).toEqual(retained);
    });

    it('hands a consumer that keeps its own position everything after that position again when a batch fails', async () => {
      const dir = await tempDir();
      const j = await openJournal({ dir });
      const calls: number[][] = [];
      const errors: unknown[] = [];
      const reverted = new Error('state reverted to an older save');
      let refuse = true;
      const c = collector();
      // The consumer has made nothing durable yet: its position stays 0.
      j.consume(
        'rules',
        (entries, lastLsn) => {
          const lsns = entries.map((_, i) => lastLsn - entries.length + 1 + i);
          calls.push(lsns);
          if (lsns.includes(11) && refuse) {
            refuse = false;
            throw reverted;
          }
          c.handler(entries, lastLsn);
        },
        { maxBatch: 5, position: () => 0, onError: (err) => errors.push(err) },
      );
      for (const first of [1, 6, 11]) {
        await j.append(range(first, first + 4).map((i) => reading(i)));
        await c.until(Math.min(first + 4, 10));
      }
      await c.until(25);
      expect(calls).toEqual([range(1, 5), range(6, 10), range(11, 15), range(1, 5), range(6, 10), range(11, 15)]);
      // The failure is reported once; handing the entries over again is no second one.
      expect(errors).toEqual([reverted]);
      // The journal saved no position of its own for it.
      expect(await savedPositions(dir)).toEqual([]);
    });

    it('hands a consumer whose own state went back everything after its position again when it says so', async () => {
      const dir = await tempDir();
      const j = await openJournal({ dir });
      let durableUpTo = 0;
      const c = collector();
      const handle = j.consume('rules', c.handler, { position: () => durableUpTo });
      await j.append(range(1, 5).map((i) => reading(i)));
      await c.until(5);
      // Its state went back to the save of 2 outside the handler (a failed tick), while it waited for appends.
      durableUpTo = 2;
      handle.rewind();
      await c.until(8);
      await j.append([reading(6)]);
      await c.until(9);
      expect(c.got.map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5, 3, 4, 5, 6]);
    });

    it('retries a failed batch after a backoff, skipping and duplicating nothing', async () => {
      const dir = await tempDir();
      const j = await openJournal({ dir });
      await j.append(range(1, 30).map((i) => reading(i)));

      const calls: Array<{ lastLsn: number; lsns: number[]; ok: boolean }> = [];
      const errors: Array<{ err: unknown; attempt: number }> = [];
      const boom = new Error('store unavailable');
      let failuresLeft = 2;
      const { done: finished, release: done } = latch();
      const started = Date.now();
      j.consume(
        'store',
        async (entries, lastLsn) => {
          const lsns = entries.map((_, i) => lastLsn - entries.length + 1 + i);
          expect(entries).toEqual(lsns.map((i) => reading(i)));
          if (lsns.includes(10) && failuresLeft > 0) {
            calls.push({ lastLsn, lsns, ok: false });
            failuresLeft -= 1;
            if (failuresLeft === 1) throw boom; // synchronous-style throw in an async handler
            return Promise.reject(boom);
          }
          calls.push({ lastLsn, lsns, ok: true });
          if (lastLsn === 30) done();
        },
        { maxBatch: 7, maxBackoffMs: 150, onError: (err, attempt) => errors.push({ err, attempt }) },
      );
      await finished;

      expect(errors).toEqual([
        { err: boom, attempt: 1 },
        { err: boom, attempt: 2 },
      ]);
      // Backoff: 100 ms, then 150 ms (capped).
      expect(Date.now() - started).toBeGreaterThanOrEqual(240);
      const failed = calls.filter((c) => !c.ok);
      const ok = calls.filter((c) => c.ok);
      expect(failed.map((c) => c.lsns)).toEqual([range(8, 14), range(8, 14)]);
      expect(ok.flatMap((c) => c.lsns)).toEqual(range(1, 30));
      // The failed batch is retried as-is, right after its failures.
      expect(calls.map((c) => c.lastLsn)).toEqual([7, 14, 14, 14, 21, 28, 30]);
    });

    it('tells how long ago the oldest entry a running consumer has not handled became durable', async () => {
      const dir = await tempDir();
      let now = 1_000_000;
      const j = await openJournal({ dir, clock: { ...systemClock, now: () => now } });
      const { done: held, release } = latch();
      const c = collector();
      j.consume('rules', async (entries, lastLsn) => {
        await held;
        c.handler(entries, lastLsn);
      });
      await j.append([reading(1)]);
      now += 300;
      await j.append([reading(2)]);
      now += 4_700;
      expect(j.status().consumers).toEqual([{ name: 'rules', committedLsn: 0, lag: 2, behindMs: 5000 }]);
      release();
      await c.until(2);
      // The position moves once the handler has returned.
      for (let turn = 0; turn < 100 && j.status().consumers[0]?.behindMs !== 0; turn++)
        await new Promise((r) => setImmediate(r));
      expect(j.status().consumers[0]?.behindMs).toBe(0);
    });

    it('tells a consumer stuck at one batch, or failing, from one that is slow', async () => {
      const dir = await tempDir();
      let now = 1_000_000;
      const j = await openJournal({ dir, clock: { ...systemClock, now: () => now } });
      const { done: held, release } = latch();
      let failing = true;
      const { done: handling, release: started } = latch();
      j.consume('slow', async () => {
        started();
        await held;
      });
      const failed = new Promise<void>((resolve) =>
        j.consume(
          'failing',
          async () => {
            if (failing) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
          },
          { onError: () => resolve() },
        ),
      );
      await j.append([reading(1)]);
      await handling;
      await failed;
      expect(j.stuck('slow', 5_000)).toBe(false);
      now += 5_001;
      expect(j.stuck('slow', 5_000)).toBe(true);
      release();
      // A failing consumer is stuck until a batch goes through.
      expect(j.stuck('failing', 5_000)).toBe(true);
      failing = false;
      for (let turn = 0; turn < 1000 && (j.stuck('failing', 5_000) || j.stuck('slow', 5_000)); turn++)
        await new Promise((r) => setTimeout(r, 5));
      expect(j.stuck('failing', 5_000)).toBe(false);
      expect(j.stuck('slow', 5_000)).toBe(false);
      expect(j.stuck('nobody', 5_000)).toBe(false);
      await j.close();
    });

    it('waits out transient failures however long they last, and sets nothing aside for them', async () => {
      const dir = await tempDir();
      const setAside = await SetAsideLog.open({ path: join(dir, 'set-aside.jsonl'), capacity: 100, now: Date.now });
      const j = await openJournal({ dir, setAside });
      await j.append(range(1, 20).map((i) => reading(i)));
      let failuresLeft = 8;
      const c = collector();
      j.consume(
        'store',
        (entries, lastLsn) => {
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
          }
          c.handler(entries, lastLsn);
        },
        { maxBatch: 5, maxBackoffMs: 2 },
      );
      await c.until(20);
      expect(c.got.map((r) => r.lsn)).toEqual(range(1, 20));
      expect(setAside.list()).toEqual([]);
      await j.close();
      await setAside.close();
    });

    it('refuses appends after close and bad consumer names', async () => {
      const dir = await tempDir();
      const j = await openJournal({ dir });
      expect(() => j.consume('Bad_Name', () => {})).toThrow(/consumer name "Bad_Name" is invalid/);
      j.consume('ok-name', () => {});
      expect(() => j.consume('ok-name', () => {})).toThrow(/already running/);
      const pending = j.append([reading(1)]);
      await j.close();
      expect(await pending).toBe(1);
      await expect(j.append([reading(2)])).rejects.toThrow(/journal is closed/);
    });
  });
}
