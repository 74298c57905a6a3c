// The suite every alert outbox must pass: a notification is queued only with the transaction that
// makes its reason durable, handed to its target in order and in batches, removed only once the
// target has it, kept and retried with a doubling backoff while the target is down (also across a
// restart), never held up by another target, and set aside once the target has refused it alone a
// few times, so the ones after it flow. Targets here are scripted; the webhook and the store's
// alert history are tested as targets against a real receiver and real stores.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Outbox, OutboxOptions, OutboxRow, OutboxTarget } from '../hub/notify/outbox.ts';
import { ManualClock, SECOND, T0 } from './rules-fixtures.ts';
import { eventually, tempDir } from './support/hub.ts';
import { latch } from './support/journal.ts';

export type OutboxUnderTest = Pick<Outbox, 'enqueue' | 'kick' | 'waiting' | 'close' | 'setTargets' | 'failing'>;

interface Started {
  outbox: OutboxUnderTest;
  db: Database.Database;
}

class Refused extends Error {}

/** Lets a delivery the clock started reach its target (one turn of the event loop). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a scripted target does with the rows it is handed. */
type Answer = 'take' | 'down' | 'refuse';

interface ScriptedTarget extends OutboxTarget {
  answer: (payloads: string[]) => Answer | Promise<Answer>;
  /** Payloads of every call, taken or not. */
  calls: string[][];
  /** Payloads taken, in order. */
  taken: string[];
  /** The clock's time at each call. */
  at: number[];
}

export function describeOutboxContract(name: string, open: (options: OutboxOptions) => OutboxUnderTest): void {
  describe(`Outbox contract: ${name}`, () => {
    let dir = '';
    let clock = new ManualClock(T0);
    let logs: Array<{ level: number; msg: string; target?: string; dropped?: number }> = [];
    const opened = new Set<Started>();

    beforeEach(() => {
      dir = tempDir('floorwatch-outbox-');
      clock = new ManualClock(T0);
      logs = [];
    });

    afterEach(async () => {
      await Promise.all([...opened].map(stop));
      rmSync(dir, { recursive: true, force: true });
    });

    function scripted(targetName: string, batch: number): ScriptedTarget {
      const target: ScriptedTarget = {
        name: targetName,
        batch,
        answer: () => 'take',
        calls: [],
        taken: [],
        at: [],
        async deliver(rows: readonly OutboxRow[]) {
          const payloads = rows.map((r) => r.payload);
          target.calls.push(payloads);
          target.at.push(clock.t);
          const answer = await target.answer(payloads);
          if (answer === 'down') throw new Error(`${targetName} does not answer`);
          if (answer === 'refuse') throw new Refused(`${targetName} cannot take ${payloads.join(', ')}`);
          target.taken.push(...payloads);
        },
        refusedForGood: (err) => err instanceof Refused,
      };
      return target;
    }

    /** An outbox on the test's alert database, as at a hub start. */
    function start(targets: OutboxTarget[], extra: Partial<OutboxOptions> = {}): Started {
      const db = new Database(join(dir, 'alerts.sqlite'));
      const log = pino(
        { level: 'info' },
        { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) },
      );
      const outbox = open({
        db,
        targets,
        log,
        now: clock.now,
        timers: clock,
        retryFirstMs: SECOND,
        retryMaxMs: 8 * SECOND,
        ...extra,
        maxWaiting: extra.maxWaiting ?? 10_000,
      });
      const started = { outbox, db };
      opened.add(started);
      return started;
    }

    async function stop(started: Started): Promise<void> {
      opened.delete(started);
      await started.outbox.close();
      started.db.close();
    }

    /** Waits for the failed delivery under way to schedule its retry. */
    const retryScheduled = (what: string) => eventually(() => clock.pendingTimers() === 1, { what });

    it('hands notifications over in the order they were queued, in batches, each removed only once its target has it', async () => {
      const hook = scripted('webhook http://127.0.0.1/hook', 3);
      const { outbox } = start([hook]);
      const waitingDuring: number[] = [];
      hook.answer = () => (waitingDuring.push(outbox.waiting()), 'take');
      const payloads = Array.from({ length: 8 }, (_, i) => `{"n":${i}}`);
      for (const p of payloads) outbox.enqueue(hook.name, p);
      outbox.kick();
      await eventually(() => outbox.waiting() === 0, { what: 'every notification to be delivered' });
      expect(hook.calls).toEqual([payloads.slice(0, 3), payloads.slice(3, 6), payloads.slice(6)]);
      expect(hook.taken).toEqual(payloads);
      expect(waitingDuring).toEqual([8, 5, 2]);
    });

    it('queues a notification only with the transaction that makes its reason durable, and only for a target it knows', async () => {
      const hook = scripted('webhook http://127.0.0.1/hook', 10);
      const { outbox, db } = start([hook]);
      const transition = db.transaction((payload: string, fail: boolean) => {
        outbox.enqueue(hook.name, payload);
        if (fail) throw new Error('the alert transition could not be saved');
      });
      expect(() => transition('{"rolled":"back"}', true)).toThrow('could not be saved');
      expect(outbox.waiting()).toBe(0);
      transition('{"kept":true}', false);
      outbox.enqueue('webhook http://127.0.0.1/removed', '{"nobody":"listens"}');
      expect(outbox.waiting()).toBe(1);
      outbox.kick();
      await eventually(() => outbox.waiting() === 0, { what: 'the committed notification to be delivered' });
      expect(hook.calls).toEqual([['{"kept":true}']]);
    });

    it('keeps what a target that is down cannot take, retries after 1, 2, 4, 8 s and then every 8 s, and sends everything in order once it is back', async () => {
      const hook = scripted('webhook http://127.0.0.1/hook', 10);
      hook.answer = () => 'down';
      const { outbox } = start([hook]);
      for (const n of [1, 2, 3]) outbox.enqueue(hook.name, `{"n":${n}}`);
      outbox.kick();
      for (const gap of [1, 2, 4, 8, 8, 8, 8, 8, 8]) {
        await retryScheduled(`a retry after failure ${hook.calls.length}`);
        const calls = hook.calls.length;
        clock.advance(gap * SECOND - 1);
        expect(hook.calls.length).toBe(calls);
        clock.advance(1);
        await eventually(() => hook.calls.length === calls + 1, { what: `attempt ${calls + 1}` });
      }
      // Ten failures logged twice: the first and the tenth.
      expect(logs.filter((l) => l.level === 40 && l.target === hook.name)).toHaveLength(2);
      await retryScheduled('the retry after the tenth failure');
      outbox.enqueue(hook.name, '{"n":4}');
      outbox.kick();
      expect(hook.calls).toHaveLength(10);
      hook.answer = () => 'take';
      clock.advance(8 * SECOND);
      await eventually(() => outbox.waiting() === 0, { what: 'the target to get everything once back' });
      expect(hook.taken).toEqual([1, 2, 3, 4].map((n) => `{"n":${n}}`));
      expect(logs.filter((l) => l.level === 30 && l.msg.includes('again'))).toHaveLength(1);
    });

    it('at close waits for the delivery in flight, retries nothing, and the next start on the same database sends what was left, in order', async () => {
      const hook = scripted('webhook http://127.0.0.1/hook', 2);
      const inFlight = latch();
      // The receiver fails the delivery under way only once the hub is closing.
      hook.answer = async () => (await inFlight.done, 'down' as const);
      const down = scripted('webhook http://127.0.0.1/down', 2);
      down.answer = () => 'down';
      const first = start([hook, down]);
      for (const n of [1, 2, 3, 4]) {
        first.outbox.enqueue(hook.name, `{"n":${n}}`);
        first.outbox.enqueue(down.name, `{"n":${n}}`);
      }
      first.outbox.kick();
      await eventually(() => hook.calls.length === 1 && clock.pendingTimers() === 1, {
        what: 'a delivery under way and a retry scheduled',
      });
      let closed = false;
      const closing = stop(first).then(() => (closed = true));
      await new Promise((r) => setImmediate(r));
      expect(closed).toBe(false);
      inFlight.release();
      await closing;
      expect(clock.pendingTimers()).toBe(0);
      clock.advance(60 * SECOND);
      expect(down.calls).toHaveLength(1);
      expect(hook.calls).toHaveLength(1);

      hook.answer = () => 'take';
      down.answer = () => 'take';
      const second = start([hook, down]);
      second.outbox.enqueue(hook.name, '{"n":5}');
      second.outbox.kick();
      await eventually(() => second.outbox.waiting() === 0, {
        what: 'what was left to be delivered after the restart',
      });
      expect(hook.taken).toEqual([1, 2, 3, 4, 5].map((n) => `{"n":${n}}`));
      expect(down.taken).toEqual([1, 2, 3, 4].map((n) => `{"n":${n}}`));
    });

    it('at close waits 2 s for a delivery that never ends, says so, and the next start sends what it held', async () => {
      const hook = scripted('webhook http://127.0.0.1/silent', 2);
      hook.answer = () => new Promise<never>(() => undefined);
      const first = start([hook]);
      first.outbox.enqueue(hook.name, '{"n":1}');
      first.outbox.kick();
      await eventually(() => hook.calls.length === 1, { what: 'a delivery under way' });
      let closed = false;
      const closing = stop(first).then(() => (closed = true));
      await turn();
      clock.advance(2 * SECOND - 1);
      await turn();
      expect(closed).toBe(false);
      clock.advance(1);
      await closing;
      expect(logs.some((l) => l.msg.includes(`notifications still on their way to ${hook.name} at stop`))).toBe(true);

      hook.answer = () => 'take';
      const second = start([hook]);
      second.outbox.kick();
      await eventually(() => second.outbox.waiting() === 0, { what: 'what was held, delivered after the restart' });
      expect(hook.taken).toEqual(['{"n":1}']);
    });

    it('sends nothing that was still being readied (in a cluster) when it closed; the next start sends it', async () => {
      const hook = scripted('webhook http://127.0.0.1/hook', 2);
      const readied = latch();
      let readying = 0;
      const first = start([hook], { ready: async () => (readying++, readied.done) });
      first.outbox.enqueue(hook.name, '{"n":1}');
      first.outbox.kick();
      await eventually(() => readying === 1, { what: 'the rows being readied' });
      const closing = stop(first);
      await turn();
      clock.advance(2 * SECOND);
      await closing;
      readied.release();
      await turn();
      expect(hook.calls).toEqual([]);

      const second = start([hook]);
      second.outbox.kick();
      await eventually(() => second.outbox.waiting() === 0, { what: 'what was readied, delivered after the restart' });
      expect(hook.taken).toEqual(['{"n":1}']);
    });

    it('a target that is down holds back no other target', async () => {
      const down = scripted('webhook http://127.0.0.1/down', 10);
      down.answer = () => 'down';
      const history = scripted('store', 10);
      const { outbox } = start([down, history]);
      for (const n of [1, 2, 3]) {
        outbox.enqueue(down.name, `{"n":${n}}`);
        outbox.enqueue(history.name, `{"n":${n}}`);
      }
      outbox.kick();
      await eventually(() => outbox.waiting(history.name) === 0, { what: 'the history to be written' });
      expect(history.taken).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
      expect(outbox.waiting(down.name)).toBe(3);
      expect(outbox.waiting()).toBe(3);
    });

    it('sets a notification its target refuses for good aside after three attempts alone; the ones before and after it are delivered in order', async () => {
      const hook = scripted('webhook http://127.0.0.1/hook', 4);
      hook.answer = (payloads) => (payloads.includes('{"n":3}') ? 'refuse' : 'take');
      const setAside: Array<{ target: string; payload: string; err: string }> = [];
      const { outbox } = start([hook], {
        setAside: async (target, row, err) =>
          void setAside.push({ target, payload: row.payload, err: (err as Error).message }),
      });
      const payloads = [1, 2, 3, 4, 5, 6].map((n) => `{"n":${n}}`);
      for (const p of payloads) outbox.enqueue(hook.name, p);
      outbox.kick();
      for (const gap of [1, 2]) {
        await retryScheduled(`a retry after refusal ${gap}`);
        clock.advance(gap * SECOND);
      }
      await eventually(() => outbox.waiting() === 0, { what: 'the notifications after the refused one' });
      expect(hook.calls).toEqual([
        payloads.slice(0, 4),
        [payloads[0]],
        [payloads[1]],
        [payloads[2]],
        [payloads[2]],
        [payloads[2]],
        [payloads[3]],
        payloads.slice(4),
      ]);
      expect(hook.taken).toEqual(payloads.filter((p) => p !== '{"n":3}'));
      expect(setAside).toEqual([{ target: hook.name, payload: '{"n":3}', err: `${hook.name} cannot take {"n":3}` }]);
      expect(logs.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([
        expect.stringContaining('refused a notification 3 times'),
      ]);
    });

    it('keeps a refused notification queued while its record cannot be made, and sets it aside once it can', async () => {
      const hook = scripted('webhook http://127.0.0.1/hook', 1);
      hook.answer = (payloads) => (payloads.includes('{"n":1}') ? 'refuse' : 'take');
      let records = 0;
      const { outbox } = start([hook], {
        setAside: async () => {
          records += 1;
          if (records === 1) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        },
      });
      outbox.enqueue(hook.name, '{"n":1}');
      outbox.enqueue(hook.name, '{"n":2}');
      outbox.kick();
      for (const gap of [1, 2]) {
        await retryScheduled(`a retry after refusal ${gap}`);
        clock.advance(gap * SECOND);
      }
      await retryScheduled('a retry after the record failed');
      expect(records).toBe(1);
      expect(outbox.waiting()).toBe(2);
      expect(logs.some((l) => l.level === 50 && l.msg.includes('it stays queued'))).toBe(true);
      clock.advance(4 * SECOND);
      await eventually(() => outbox.waiting() === 0, { what: 'the refused notification to be set aside' });
      expect(records).toBe(2);
      expect(hook.taken).toEqual(['{"n":2}']);
    });

    it('drops at start the notifications of a target no longer configured, and says how many', async () => {
      const kept = scripted('__proto__', 10);
      const removed = scripted('webhook http://127.0.0.1/constructor', 10);
      const first = start([kept, removed]);
      first.outbox.enqueue(removed.name, '{"n":1}');
      first.outbox.enqueue(removed.name, '{"n":2}');
      first.outbox.enqueue(kept.name, '{"n":3}');
      await stop(first);
      const second = start([kept]);
      expect(logs.filter((l) => l.level === 40)).toEqual([
        expect.objectContaining({ target: removed.name, dropped: 2 }),
      ]);
      expect(second.outbox.waiting()).toBe(1);
      second.outbox.kick();
      await eventually(() => second.outbox.waiting() === 0, { what: 'the kept target to get its notification' });
      expect(kept.taken).toEqual(['{"n":3}']);
      expect(removed.calls).toEqual([]);
    });

    it('keeps at most maxWaiting for a target that is down: the oldest go, counted, logged once a minute and told in failing(); the rest arrive in order once it is back', async () => {
      const hook = scripted('toString', 3);
      const other = scripted('__proto__', 3);
      hook.answer = () => 'down';
      other.answer = () => 'down';
      const dropped: Array<[string, number]> = [];
      const { outbox } = start([hook, other], {
        maxWaiting: 5,
        onDropped: (target, count) => void dropped.push([target, count]),
      });
      const payload = (n: number) => `{"n":${n}}`;
      outbox.enqueue(hook.name, payload(1));
      outbox.kick();
      await retryScheduled('a retry of the target that is down');
      for (let n = 2; n <= 8; n++) outbox.enqueue(hook.name, payload(n));
      for (let n = 1; n <= 5; n++) outbox.enqueue(other.name, payload(n));
      expect(outbox.waiting(hook.name)).toBe(5);
      expect(outbox.waiting(other.name)).toBe(5);
      expect(dropped).toEqual([
        [hook.name, 1],
        [hook.name, 1],
        [hook.name, 1],
      ]);
      const warned = () => logs.filter((l) => l.level === 40 && l.msg.includes('max_undelivered'));
      expect(warned()).toEqual([expect.objectContaining({ target: hook.name, dropped: 1 })]);
      // A minute on, the next drop is logged with the ones since.
      clock.advance(60 * SECOND);
      // The retry kicked every target: the other is down too.
      await eventually(() => clock.pendingTimers() === 2, { what: 'both targets to schedule their retries' });
      outbox.enqueue(hook.name, payload(9));
      expect(warned().at(-1)).toEqual(expect.objectContaining({ dropped: 3 }));
      expect(warned()).toHaveLength(2);
      expect(outbox.failing().find((f) => f.target === hook.name)).toEqual(
        expect.objectContaining({ waiting: 5, dropped: 4 }),
      );
      hook.answer = () => 'take';
      clock.advance(8 * SECOND);
      await eventually(() => outbox.waiting(hook.name) === 0, { what: 'the target to get what was kept once back' });
      expect(hook.taken).toEqual([5, 6, 7, 8, 9].map(payload));
      expect(outbox.failing().map((f) => f.target)).toEqual([other.name]);
      // The other target's queue, full but not past the bound, is untouched.
      expect(outbox.waiting(other.name)).toBe(5);
      expect(dropped.filter(([target]) => target !== hook.name)).toEqual([]);
    });

    it('does not drop for the bound a notification being handed over: it arrives, and only those behind it are counted as dropped', async () => {
      const hook = scripted('valueOf', 1);
      let answer: (a: Answer) => void = () => undefined;
      hook.answer = () => new Promise<Answer>((resolve) => (answer = resolve));
      let dropped = 0;
      const { outbox } = start([hook], { maxWaiting: 2, onDropped: (_target, count) => (dropped += count) });
      const payload = (n: number) => `{"n":${n}}`;
      outbox.enqueue(hook.name, payload(1));
      outbox.kick();
      await eventually(() => hook.calls.length === 1, { what: 'the first notification to be handed over' });
      for (let n = 2; n <= 4; n++) outbox.enqueue(hook.name, payload(n));
      // The one on its way stays, and the oldest of the others go in its place.
      expect(dropped).toBe(2);
      expect(outbox.waiting(hook.name)).toBe(2);
      hook.answer = () => 'take';
      answer('take');
      await eventually(() => outbox.waiting(hook.name) === 0, { what: 'the rest to be delivered' });
      expect(hook.taken).toEqual([payload(1), payload(4)]);
      // Every notification queued was either delivered or dropped, never both.
      expect(hook.taken.length + dropped).toBe(4);
    });

    it('a lower maxWaiting at a reload drops the oldest past it at once, and counts each target from what it holds', async () => {
      const hook = scripted('constructor', 10);
      hook.answer = () => 'down';
      const { outbox, db } = start([hook], { maxWaiting: 100 });
      db.transaction(() => {
        for (let n = 1; n <= 50; n++) outbox.enqueue(hook.name, `{"n":${n}}`);
      })();
      // A transition rolled back leaves no row, and the bound still counts what is there.
      expect(() =>
        db.transaction(() => {
          outbox.enqueue(hook.name, '{"rolled":"back"}');
          throw new Error('the alert transition could not be saved');
        })(),
      ).toThrow('could not be saved');
      outbox.setTargets([hook], { retryFirstMs: SECOND, retryMaxMs: 8 * SECOND, maxWaiting: 20 });
      expect(outbox.waiting(hook.name)).toBe(20);
      outbox.enqueue(hook.name, '{"n":51}');
      expect(outbox.waiting(hook.name)).toBe(20);
      hook.answer = () => 'take';
      outbox.kick();
      await eventually(() => outbox.waiting() === 0, { what: 'the kept notifications' });
      expect(hook.taken).toEqual(Array.from({ length: 20 }, (_, i) => `{"n":${i + 32}}`));
    });

    it('counts and logs a drop for the bound only once its transaction has committed: one rolled back dropped nothing', async () => {
      const hook = scripted('hasOwnProperty', 10);
      hook.answer = () => 'down';
      const dropped: number[] = [];
      const { outbox, db } = start([hook], { maxWaiting: 2, onDropped: (_target, count) => void dropped.push(count) });
      const warned = () => logs.filter((l) => l.level === 40 && l.msg.includes('max_undelivered'));
      outbox.enqueue(hook.name, '{"n":1}');
      outbox.enqueue(hook.name, '{"n":2}');
      expect(() =>
        db.transaction(() => {
          outbox.enqueue(hook.name, '{"rolled":"back"}');
          throw new Error('the alert transition could not be saved');
        })(),
      ).toThrow('could not be saved');
      await turn();
      expect({ dropped, warned: warned(), waiting: outbox.waiting(hook.name) }).toEqual({
        dropped: [],
        warned: [],
        waiting: 2,
      });
      // Counted from what is there: the next notification drops one, not two.
      db.transaction(() => outbox.enqueue(hook.name, '{"n":3}'))();
      await turn();
      expect(dropped).toEqual([1]);
      expect(warned()).toEqual([expect.objectContaining({ target: hook.name, dropped: 1 })]);
      hook.answer = () => 'take';
      outbox.kick();
      await eventually(() => outbox.waiting(hook.name) === 0, { what: 'the kept notifications' });
      expect(hook.taken).toEqual(['{"n":2}', '{"n":3}']);
    });

    it('counts what waits as the database holds it: a notification rolled back makes none of those queued in the same turn go', async () => {
      const hook = scripted('toString', 10);
      hook.answer = () => 'down';
      const dropped: number[] = [];
      const { outbox, db } = start([hook], { maxWaiting: 3, onDropped: (_target, count) => void dropped.push(count) });
      expect(() =>
        db.transaction(() => {
          outbox.enqueue(hook.name, '{"rolled":"back"}');
          throw new Error('the alert transition could not be saved');
        })(),
      ).toThrow('could not be saved');
      // In the same turn: three fit under the bound of three.
      db.transaction(() => {
        for (let n = 1; n <= 3; n++) outbox.enqueue(hook.name, `{"n":${n}}`);
      })();
      await turn();
      expect({ dropped, waiting: outbox.waiting(hook.name) }).toEqual({ dropped: [], waiting: 3 });
    });

    it('tells the drops a transaction committed for a target that a reload in the same turn removes', async () => {
      const hook = scripted('__proto__', 10);
      const other = scripted('constructor', 10);
      hook.answer = () => 'down';
      const dropped: Array<[string, number]> = [];
      const { outbox, db } = start([hook, other], {
        maxWaiting: 1,
        onDropped: (target, count) => void dropped.push([target, count]),
      });
      outbox.enqueue(hook.name, '{"n":1}');
      db.transaction(() => outbox.enqueue(hook.name, '{"n":2}'))();
      outbox.setTargets([other]);
      await turn();
      expect(dropped).toEqual([[hook.name, 1]]);
      expect(outbox.waiting(hook.name)).toBe(0);
    });

    it('logs, and does not throw, when the drops of a transaction cannot be checked once it has ended', async () => {
      const hook = scripted('valueOf', 10);
      hook.answer = () => 'down';
      const dropped: number[] = [];
      const { outbox, db } = start([hook], { maxWaiting: 1, onDropped: (_target, count) => void dropped.push(count) });
      outbox.enqueue(hook.name, '{"n":1}');
      db.transaction(() => outbox.enqueue(hook.name, '{"n":2}'))();
      // The check comes after this turn's code: the table is gone by then.
      db.exec('ALTER TABLE outbox RENAME TO outbox_elsewhere');
      await turn();
      expect(dropped).toEqual([]);
      expect(logs.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
        expect.stringContaining('could not check the alert notifications dropped past notify.max_undelivered'),
      ]);
      db.exec('ALTER TABLE outbox_elsewhere RENAME TO outbox');
    });

    it('delivers ten thousand notifications, in order, in full batches', async () => {
      const history = scripted('store', 500);
      const { outbox, db } = start([history]);
      const payloads = Array.from({ length: 10_000 }, (_, i) => `{"n":${i}}`);
      db.transaction(() => {
        for (const p of payloads) outbox.enqueue(history.name, p);
      })();
      outbox.kick();
      await eventually(() => outbox.waiting() === 0, { what: 'ten thousand notifications to be delivered' });
      expect(history.taken).toEqual(payloads);
      expect(history.calls.map((c) => c.length)).toEqual(Array<number>(20).fill(500));
    });

    it('holds a group back for its wait, sends its rows together, and after it waits the group interval; rows in no group are not held', async () => {
      const mail = scripted('receiver facilities', 50);
      const { outbox } = start([mail]);
      const floorA = { key: 'route=0 zone=floor-a kind=offline', waitMs: 10 * SECOND, intervalMs: 60 * SECOND };
      const floorB = { ...floorA, key: 'route=0 zone=floor-b kind=offline' };
      outbox.enqueue(mail.name, 'a1', floorA);
      outbox.kick();
      clock.advance(4 * SECOND);
      outbox.enqueue(mail.name, 'a2', floorA);
      outbox.enqueue(mail.name, 'b1', floorB);
      outbox.enqueue(mail.name, 'loose');
      outbox.kick();
      await eventually(() => mail.taken.includes('loose'), { what: 'the row in no group, at once' });
      await turn();
      expect(mail.taken).toEqual(['loose']);
      // floor-a is due 10 s after its first row, with the row that joined it; floor-b 10 s after its own.
      clock.advance(6 * SECOND);
      await eventually(() => mail.calls.length === 2, { what: "floor-a's group" });
      expect(mail.calls[1]).toEqual(['a1', 'a2']);
      expect(mail.at[1]).toBe(T0 + 10 * SECOND);
      clock.advance(4 * SECOND);
      await eventually(() => mail.calls.length === 3, { what: "floor-b's group" });
      expect(mail.calls[2]).toEqual(['b1']);
      // A change to floor-a soon after its notice waits for the group interval, counted from the notice.
      clock.advance(5 * SECOND);
      outbox.enqueue(mail.name, 'a3', floorA);
      outbox.enqueue(mail.name, 'a4', floorA);
      outbox.kick();
      clock.advance(40 * SECOND);
      await turn();
      expect(mail.calls.length).toBe(3);
      clock.advance(11 * SECOND);
      await eventually(() => mail.calls.length === 4, { what: "floor-a's second notice" });
      expect(mail.calls[3]).toEqual(['a3', 'a4']);
      expect(mail.at[3]).toBe(T0 + 70 * SECOND);
      expect(outbox.waiting()).toBe(0);
    });

    it('holds a row that joins its group while the group is being handed over until the group interval', async () => {
      const mail = scripted('receiver facilities', 50);
      const { outbox } = start([mail]);
      const group = { key: 'route=0 zone=floor-a kind=offline', waitMs: 0, intervalMs: 60 * SECOND };
      const gate = latch();
      mail.answer = async (): Promise<Answer> => {
        await gate.done;
        return 'take';
      };
      outbox.enqueue(mail.name, 'a1', group);
      outbox.kick();
      await eventually(() => mail.calls.length === 1, { what: 'the first notice under way' });
      outbox.enqueue(mail.name, 'a2', group);
      outbox.kick();
      gate.release();
      await eventually(() => mail.taken.length === 1, { what: 'the first notice taken' });
      clock.advance(59 * SECOND);
      await turn();
      expect(mail.calls).toEqual([['a1']]);
      clock.advance(SECOND);
      await eventually(() => mail.calls.length === 2, { what: 'the second notice, a group interval later' });
      expect(mail.calls[1]).toEqual(['a2']);
    });

    it('keeps a group that waits across a restart, due when it was', async () => {
      const mail = scripted('receiver facilities', 50);
      const first = start([mail]);
      const group = { key: 'route=0 zone=floor-a kind=offline', waitMs: 30 * SECOND, intervalMs: 60 * SECOND };
      first.outbox.enqueue(mail.name, 'a1', group);
      await stop(first);
      clock.advance(10 * SECOND);
      const second = start([mail]);
      second.outbox.enqueue(mail.name, 'a2', group);
      second.outbox.kick();
      clock.advance(19 * SECOND);
      await turn();
      expect(mail.calls).toEqual([]);
      clock.advance(1 * SECOND);
      await eventually(() => mail.calls.length === 1, { what: 'the group, due 30 s after its first row' });
      expect(mail.calls[0]).toEqual(['a1', 'a2']);
    });
  });
}
