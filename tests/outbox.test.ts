// The alert outbox in the alert database passes the outbox contract, says which targets are
// failing, and takes over an alert database an earlier release made.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../hub/notify/outbox.ts';
import { describeOutboxContract } from './outbox-contract.ts';
import { eventually, tempDir } from './support/hub.ts';

describeOutboxContract('alert database', (options) => new Outbox(options));

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
