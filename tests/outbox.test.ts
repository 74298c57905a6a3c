// The alert outbox in the alert database passes the outbox contract, says which targets are
// failing, takes over an alert database an earlier release made, and lives through a database
// that cannot be written for a while.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../hub/notify/outbox.ts';
import { describeOutboxContract } from './outbox-contract.ts';
import { eventually, tempDir } from './support/hub.ts';
import { ManualClock, SECOND, T0 } from './rules-fixtures.ts';

describeOutboxContract('alert database', (options) => new Outbox(options));

/** An alert database in a temp dir, a clock, and a log that keeps its lines; `close` removes it all. */
function alertDatabase() {
  const dir = tempDir('floorwatch-outbox-');
  const db = new Database(join(dir, 'alerts.sqlite'));
  const lines: Array<{ msg: string }> = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) },
  );
  const clock = new ManualClock(T0);
  return {
    db,
    clock,
    /** An outbox's options but its targets: retries after 1 s, doubling to 8 s. */
    options: {
      db,
      log,
      now: clock.now,
      timers: clock,
      retryFirstMs: SECOND,
      retryMaxMs: 8 * SECOND,
      maxWaiting: 10_000,
    },
    /** How many log lines say `text`. */
    told: (text: string) => lines.filter((l) => l.msg.includes(text)).length,
    close: async (outbox: Outbox) => {
      await outbox.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('an alert database from before grouped notices', () => {
  it('keeps and delivers the rows it held, and groups what comes after', async () => {
    const dir = tempDir('floorwatch-outbox-');
    const db = new Database(join(dir, 'alerts.sqlite'));
    // The outbox table as earlier releases made it, with a notification still waiting.
    db.exec(
      'CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL)',
    );
    db.prepare("INSERT INTO outbox (target, payload, created_at) VALUES ('receiver mail', 'old', 0)").run();
    const taken: string[][] = [];
    const outbox = new Outbox({
      db,
      targets: [
        { name: 'receiver mail', batch: 50, deliver: async (rows) => void taken.push(rows.map((r) => r.payload)) },
      ],
      log: pino({ level: 'silent' }),
      now: () => 1000,
      retryFirstMs: 1000,
      retryMaxMs: 8000,
      maxWaiting: 10_000,
    });
    outbox.enqueue('receiver mail', 'new', { key: 'zone=a', waitMs: 0, intervalMs: 60_000 });
    outbox.kick();
    await eventually(() => outbox.waiting() === 0, { what: 'both rows delivered' });
    expect(taken).toEqual([['old'], ['new']]);
    await outbox.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('targets failing', () => {
  it('names a failing target by its label, with the reason whatever it rejected with, until a delivery gets through', async () => {
    const dir = tempDir('floorwatch-outbox-');
    const db = new Database(join(dir, 'alerts.sqlite'));
    const answers: unknown[] = ['refused', new Error('HTTP 410 Gone')];
    // Each attempt waits to be let go, so the test sees the state between attempts.
    let letGo: (() => void) | undefined;
    const next = async () => {
      await eventually(() => letGo !== undefined, { what: 'an attempt' });
      const go = letGo!;
      letGo = undefined;
      go();
    };
    let now = 1000;
    const outbox = new Outbox({
      db,
      targets: [
        {
          name: 'webhook https://hooks.example/secret-path',
          label: 'webhook https://hooks.example',
          batch: 1,
          deliver: async () => {
            await new Promise<void>((resolve) => (letGo = resolve));
            const answer = answers.shift();
            // eslint-disable-next-line @typescript-eslint/only-throw-error -- a target rejecting with a bare string
            if (answer !== undefined) throw answer;
          },
        },
      ],
      log: pino({ level: 'silent' }),
      now: () => now,
      retryFirstMs: 1,
      retryMaxMs: 1,
      maxWaiting: 10_000,
    });
    outbox.enqueue('webhook https://hooks.example/secret-path', 'alert', { key: 'zone=a', waitMs: 0, intervalMs: 0 });
    outbox.kick();
    expect(outbox.failing()).toEqual([]);
    await next();
    await eventually(() => outbox.failing().length > 0, { what: 'the first refusal' });
    expect(outbox.failing()).toEqual([
      { target: 'webhook https://hooks.example', since: 1000, error: 'refused', waiting: 1, dropped: 0 },
    ]);
    now = 5000;
    await next();
    await eventually(() => outbox.failing()[0]?.error === 'HTTP 410 Gone', { what: 'the second refusal' });
    expect(outbox.failing()[0]?.since).toBe(1000);
    await next();
    await eventually(() => outbox.waiting() === 0, { what: 'the delivery that gets through' });
    expect(outbox.failing()).toEqual([]);
    await outbox.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('an alert database that cannot be written for a while', () => {
  it('tries again with backoff, saying so once; what the receiver took is not sent again and goes once it can be written', async () => {
    const { db, clock, options, told, close } = alertDatabase();
    const taken: string[][] = [];
    const outbox = new Outbox({
      targets: [
        {
          name: 'receiver mail',
          batch: 50,
          deliver: async (rows) => {
            taken.push(rows.map((r) => r.payload));
            // The disk turns read-only (as after an I/O error) while the receiver has the first message.
            if (taken.length === 1) db.pragma('query_only = ON');
          },
        },
      ],
      ...options,
    });
    // Each try to delete the row the receiver took, counted.
    let deletes = 0;
    const prepare = db.prepare.bind(db);
    db.prepare = (sql: string) => (sql.startsWith('DELETE FROM outbox WHERE id IN') && deletes++, prepare(sql));
    outbox.enqueue('receiver mail', 'first');
    outbox.kick();
    await eventually(() => clock.pendingTimers() === 1, { what: 'a retry after the row could not be deleted' });
    expect(told('the alert database cannot be read or written (attempt to write a readonly database)')).toBe(1);
    expect(deletes).toBe(1);
    // Tried again after 1 s, then 2 s, while it stays read-only: the row is not handed over again, nor told of again.
    for (const wait of [1, 2]) {
      clock.advance(wait * SECOND - 1);
      expect(deletes).toBe(wait);
      clock.advance(1);
      await eventually(() => deletes === wait + 1 && clock.pendingTimers() === 1, {
        what: `the retry after ${wait} s`,
      });
    }
    expect(taken).toEqual([['first']]);
    expect(told('cannot be read or written')).toBe(1);
    expect(outbox.failing()).toEqual([]);

    db.pragma('query_only = OFF');
    clock.advance(4 * SECOND);
    await eventually(() => outbox.waiting() === 0, { what: 'the row the receiver took deleted' });
    expect(told('the alert database answers again')).toBe(1);
    outbox.enqueue('receiver mail', 'second');
    outbox.kick();
    await eventually(() => taken.length === 2, { what: 'the next notification' });
    expect(taken).toEqual([['first'], ['second']]);
    await close(outbox);
  });
});

describe('a notification set aside while the alert database turns read-only', () => {
  it('is neither sent nor recorded again while it cannot be removed, and goes once it can', async () => {
    const { db, clock, options, told, close } = alertDatabase();
    let attempts = 0;
    const setAside: string[] = [];
    const outbox = new Outbox({
      targets: [
        {
          name: 'webhook https://hooks.example/a',
          batch: 1,
          deliver: async () => {
            attempts++;
            throw new Error('HTTP 400 Bad Request');
          },
          refusedForGood: () => true,
        },
      ],
      ...options,
      setAside: async (_target, row) => {
        setAside.push(row.payload);
        // Recorded; the disk turns read-only before the row leaves the outbox.
        db.pragma('query_only = ON');
      },
    });
    outbox.enqueue('webhook https://hooks.example/a', 'refused');
    outbox.kick();
    // Refused alone three times (1 s and 2 s apart), then set aside.
    await eventually(() => attempts === 1 && clock.pendingTimers() === 1, { what: 'the first refusal' });
    for (const wait of [1, 2]) {
      clock.advance(wait * SECOND);
      await eventually(() => attempts === wait + 1 && clock.pendingTimers() === 1, { what: `refusal ${wait + 1}` });
    }
    expect(setAside).toEqual(['refused']);
    // Tries to remove it, counted: once as it was set aside, then after 1, 2 and 4 s.
    let deletes = 1;
    const prepare = db.prepare.bind(db);
    db.prepare = (sql: string) => (sql.startsWith('DELETE FROM outbox WHERE id IN') && deletes++, prepare(sql));
    for (const [i, wait] of [1, 2, 4].entries()) {
      clock.advance(wait * SECOND - 1);
      expect(deletes).toBe(i + 1);
      clock.advance(1);
      await eventually(() => clock.pendingTimers() === 1 && deletes === i + 2, { what: `the retry after ${wait} s` });
    }
    expect(attempts).toBe(3);
    expect(setAside).toEqual(['refused']);
    expect(told('cannot be read or written')).toBe(1);
    expect(told('answers again')).toBe(0);

    db.pragma('query_only = OFF');
    clock.advance(8 * SECOND);
    await eventually(() => outbox.waiting() === 0, { what: 'the row set aside gone from the outbox' });
    expect(attempts).toBe(3);
    expect(told('is set aside')).toBe(1);
    await close(outbox);
  });
});
