// The API's view of alert state: it reads what the engine committed and can change none of it —
// by type (no method that writes is reachable: `tsc --noEmit` checks the expectations below) and
// at run time (the object is frozen, what it returns is a copy, its connection is read-only).
import { afterEach, describe, expect, it } from 'vitest';
import { engineFixture, HOUR, MINUTE, T0, ZONES, type EngineFixture } from './rules-fixtures.ts';
import type { AlertView } from '../hub/domain/alert.ts';

let f: EngineFixture;
afterEach(() => f?.close());

/** Every member of the view, and only those: a member added to AlertView fails to compile here. */
const READS: Record<keyof AlertView, true> = {
  alerts: true,
  alert: true,
  history: true,
  silences: true,
  silencedNow: true,
};

/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access -- every line below is a type error on purpose */
/** Compiled, never run: each line must be a type error, or `tsc --noEmit` fails. */
export function writesAreNotReachable(view: AlertView): void {
  // @ts-expect-error the view cannot acknowledge
  view.ack(1, 'x');
  // @ts-expect-error nor add a silence
  view.addSilence({});
  // @ts-expect-error nor write an alert
  view.saveAlert({});
  // @ts-expect-error nor delete one
  view.deleteAlert(1);
  // @ts-expect-error nor run a transaction
  view.transaction(() => undefined);
  // @ts-expect-error nor reach a database connection
  view.db.exec('DELETE FROM alerts');
  // @ts-expect-error nor replace one of its reads
  view.alerts = () => [];
}
/* eslint-enable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access */

describe('the read-only view of the ledger', () => {
  it('holds only its reads, frozen: nothing on it writes and nothing can be put on it', () => {
    f = engineFixture({ site: { season: 'winter' }, ...ZONES });
    expect(Object.keys(f.view).sort()).toEqual(Object.keys(READS).sort());
    expect(Object.isFrozen(f.view)).toBe(true);
    expect(() => Object.assign(f.view, { alerts: () => [] })).toThrow(TypeError);
    expect(() => Object.defineProperty(f.view, 'db', { value: null })).toThrow(TypeError);
    for (const write of [
      'ack',
      'addSilence',
      'removeSilence',
      'saveAlert',
      'deleteAlert',
      'setMeta',
      'transaction',
      'db',
      'prune',
    ])
      expect(write in f.view).toBe(false);
  });

  it('reads what the engine committed; changing what it returns changes no alert', () => {
    f = engineFixture({ site: { season: 'winter' }, ...ZONES });
    f.reading('p-1', 'noise_peak', 140);
    const [alert] = f.view.alerts({ state: 'firing' });
    expect(alert).toMatchObject({ key: 'noise_peak.p-1', state: 'firing', severity: 'critical' });
    // A caller tampers with everything it was given.
    alert!.state = 'resolved';
    alert!.severity = 'warning';
    f.view.history(alert!.id).shown[0]!.alert.state = 'resolved';
    expect(f.view.alert(alert!.id)).toMatchObject({ state: 'firing', severity: 'critical' });
    expect(f.view.history(alert!.id).shown.map((e) => `${e.kind} ${e.alert.state}`)).toEqual(['firing firing']);
    // The engine's own state is untouched too: the alert resolves once, from firing.
    f.clock.advance(2 * MINUTE);
    f.reading('p-1', 'noise_peak', 100);
    expect(f.of('resolved', 'noise_peak.p-1').map((e) => e.alert.severity)).toEqual(['critical']);
    expect(f.view.alerts({ state: 'firing' })).toEqual([]);
  });

  it('lists silences not yet ended and tells which hold an alert now, by the clock it was given', () => {
    f = engineFixture({ site: { season: 'winter' }, ...ZONES });
    const now = f.engine.addSilence({
      matchers: { rule: 'noise_peak' },
      startsAt: T0,
      endsAt: T0 + HOUR,
      createdBy: 'li.wei',
      comment: '',
    });
    const later = f.engine.addSilence({
      matchers: { zone: 'floor-a' },
      startsAt: T0 + 2 * HOUR,
      endsAt: T0 + 3 * HOUR,
      createdBy: 'li.wei',
      comment: '',
    });
    f.reading('p-2', 'noise_peak', 140);
    const [alert] = f.view.alerts({ state: 'firing' });
    expect(f.view.silencedNow()(alert!)).toEqual([now.id]);
    expect(f.view.silences().map((s) => s.id)).toEqual([now.id, later.id]);
    f.view.silences()[0]!.endsAt = T0;
    f.clock.advance(2 * HOUR + MINUTE);
    expect(f.view.silencedNow()(alert!)).toEqual([later.id]);
    expect(f.view.silences().map((s) => s.id)).toEqual([later.id]);
  });
});
