// An alert event from outside the process (another hub's copy of the rules' state, in Redis) is
// told to the live feeds only when it is one: what a feed reads of it is there, of its type.
import { describe, expect, it } from 'vitest';
import { isAlertEvent, type AlertEvent } from '../hub/domain/alert.ts';

const EVENT: AlertEvent = {
  alertId: 1,
  key: 'equipment.headset.p-1',
  kind: 'firing',
  at: 1_764_460_800_000,
  notified: true,
  alert: {
    id: 1,
    key: 'equipment.headset.p-1',
    rule: 'equipment.headset',
    subject: 'p-1',
    zone: 'floor-a',
    state: 'firing',
    severity: 'warning',
    summary: 'Headset p-1 reports a fault',
    startsAt: 1_764_460_800_000,
    updatedAt: 1_764_460_800_000,
  },
};

describe('an alert event read from outside', () => {
  it('is one when it has what its readers read', () => {
    expect(isAlertEvent(EVENT)).toBe(true);
    expect(isAlertEvent(JSON.parse(JSON.stringify(EVENT)))).toBe(true);
  });

  it('is not one when a part is missing, of another type, or inherited', () => {
    const without = (field: string) => Object.fromEntries(Object.entries(EVENT).filter(([k]) => k !== field));
    const alertWith = (fields: Record<string, unknown>) => ({ ...EVENT, alert: { ...EVENT.alert, ...fields } });
    for (const value of [
      null,
      'firing',
      [],
      without('alert'),
      without('kind'),
      without('at'),
      without('notified'),
      { ...EVENT, alert: null },
      { ...EVENT, alert: 'p-1' },
      { ...EVENT, kind: 'toString' },
      { ...EVENT, kind: 'constructor' },
      { ...EVENT, at: '1764460800000' },
      { ...EVENT, at: Number.NaN },
      { ...EVENT, notified: 'yes' },
      alertWith({ subject: undefined }),
      alertWith({ zone: 7 }),
      alertWith({ key: null }),
      // JSON.parse makes "__proto__" an own field: nothing is inherited through it.
      JSON.parse(
        '{"__proto__": {"kind": "firing", "at": 1, "notified": true}, "alert": {"key": "k", "subject": "s", "zone": "z"}}',
      ),
      Object.create(EVENT),
    ])
      expect(isAlertEvent(value), JSON.stringify(value)).toBe(false);
  });
});
