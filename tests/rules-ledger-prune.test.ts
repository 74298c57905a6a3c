// The alert ledger's prune drops resolved alerts past their 90 days, and says which, so what
// else is kept by alert (the outbox's followers of an alert) can go with them.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AlertLedger } from '../hub/rules/ledger.ts';
import { storedAlert } from './rules-fixtures.ts';
import { tempDir } from './support/hub.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);

describe('the alert ledger’s prune', () => {
  const dir = tempDir('floorwatch-ledger-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('drops resolved alerts older than 90 days, and names them', () => {
    const ledger = new AlertLedger(join(dir, 'alerts.sqlite'));
    ledger.saveAlert(storedAlert(1, 'resolved', NOW - 91 * DAY));
    ledger.saveAlert(storedAlert(2, 'resolved', NOW - 89 * DAY));
    ledger.saveAlert(storedAlert(3, 'firing', NOW - 200 * DAY));
    expect(ledger.prune(NOW)).toEqual([1]);
    expect([1, 2, 3].map((id) => ledger.alert(id)?.id)).toEqual([undefined, 2, 3]);
    expect(ledger.prune(NOW)).toEqual([]);
    ledger.close();
  });
});
