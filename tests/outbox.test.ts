// The alert outbox in the alert database passes the outbox contract, and takes over an alert
// database an earlier release made.
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
