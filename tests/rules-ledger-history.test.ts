// An alert's history as the API reads it: an alert left firing adds a reminder each time it is
// sent again, so one over a year holds thousands; the answer shows its first transition and the
// newest 999, and says how many it has in all.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../hub/domain/alert.ts';
import { AlertLedger, HISTORY_SHOWN } from '../hub/rules/ledger.ts';
import { storedAlert } from './rules-fixtures.ts';
import { tempDir } from './support/hub.ts';

const HOUR = 3_600_000;

describe('an alert’s history', () => {
  const dir = tempDir('floorwatch-ledger-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows its first transition and the newest 999 of more, and every one of fewer', () => {
    const ledger = new AlertLedger(join(dir, 'alerts.sqlite'));
    const view = ledger.view(() => 0);
    const event = (id: number, kind: AlertEvent['kind'], at: number): AlertEvent => ({
      alertId: id,
      key: storedAlert(id).key,
      kind,
      notified: true,
      at,
      alert: storedAlert(id),
    });
    ledger.saveAlert(storedAlert(1));
    ledger.saveAlert(storedAlert(2));
    ledger.transaction(() => {
      ledger.addEvent(event(1, 'firing', 0));
      for (let i = 1; i <= 1500; i++) ledger.addEvent(event(1, 'reminder', i * HOUR));
      ledger.addEvent(event(2, 'firing', 0));
      for (let i = 1; i <= 10; i++) ledger.addEvent(event(2, 'reminder', i * HOUR));
    });
    const { shown: long, total } = view.history(1);
    expect(long).toHaveLength(HISTORY_SHOWN);
    expect(total).toBe(1501);
    expect(long[0]).toMatchObject({ kind: 'firing', at: 0 });
    expect(long.slice(1).map((e) => e.at)).toEqual(Array.from({ length: 999 }, (_, i) => (502 + i) * HOUR));
    expect(view.history(2).shown.map((e) => e.kind)).toEqual(['firing', ...Array<string>(10).fill('reminder')]);
    expect(view.history(2).total).toBe(11);
    ledger.close();
  });
});
