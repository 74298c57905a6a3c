// The hub's own health as alerts, as a pure step of the rules' lifecycle: the store down (failing
// writes or leaving one unanswered), the disk nearly full, notifications failing.
import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../hub/rules/lifecycle.ts';
import {
  emptyRuleState as empty,
  healthyHub as healthy,
  lifecycleSettings as settings,
  MINUTE,
  SECOND,
  T0,
} from './rules-fixtures.ts';

describe("the hub's own health", () => {
  it("the hub's own health: storage down after its delay, the disk nearly full, the rest fine", () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    const down = {
      ...healthy,
      storeOk: false,
      storeDownSince: T0,
      storeError: 'connection refused',
      diskFreePercent: 1.04,
    };
    expect(
      life.step(state, { type: 'hub', hub: down }, T0 + 30 * SECOND).events.map((e) => `${e.key} ${e.state}`),
    ).toEqual([
      'storage_down.hub ok',
      'storage_rejecting.hub ok',
      'journal.hub ok',
      'disk_space.hub firing',
      'notify_failing.hub ok',
    ]);
    const later = life.step(state, { type: 'hub', hub: down }, T0 + MINUTE).events;
    expect(later.find((e) => e.key === 'storage_down.hub')).toMatchObject({
      state: 'firing',
      severity: 'critical',
      at: T0 + MINUTE,
      zone: 'hub',
    });
    expect(later.find((e) => e.key === 'disk_space.hub')).toMatchObject({
      severity: 'critical',
      summary: 'the data disk is nearly full: 1 % free',
    });
    expect(state.devices.size).toBe(0);
  });

  it("the hub's own health: a store that has not answered a write for the delay is down, without a backlog warning as well", () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    const silent = (waitedMs: number) => ({ ...healthy, storeUnansweredForMs: waitedMs, backlog: 1_000_000 });
    const soon = life.step(state, { type: 'hub', hub: silent(MINUTE - 1) }, T0 + 30 * SECOND).events;
    expect(soon.find((e) => e.key === 'storage_down.hub')?.state).toBe('ok');
    const later = life.step(state, { type: 'hub', hub: silent(MINUTE) }, T0 + MINUTE).events;
    expect(later.find((e) => e.key === 'storage_down.hub')).toMatchObject({
      state: 'firing',
      severity: 'critical',
      summary:
        "storage down: influxdb has not answered a write for 60 s; readings wait in the journal and the floor's rules keep running",
    });
    expect(later.find((e) => e.key === 'journal.hub')?.state).toBe('ok');
    // It answers: the write done, the alert resolves.
    const answered = life.step(state, { type: 'hub', hub: { ...healthy } }, T0 + MINUTE + SECOND).events;
    expect(answered.find((e) => e.key === 'storage_down.hub')?.state).toBe('ok');
  });

  it('notifications failing: once a target has failed for notify_failing_after, one alert naming each, resolved once none fails', () => {
    const life = new Lifecycle(settings(), T0);
    const state = empty();
    const failing = (at: number, ...targets: string[]) => {
      const hub = {
        ...healthy,
        notifyFailing: targets.map((target, i) => ({
          target,
          since: T0 + i * MINUTE,
          error: 'the receiver answered 410',
          waiting: 3 + i,
        })),
      };
      return life.step(state, { type: 'hub', hub }, at).events.find((e) => e.key === 'notify_failing.hub');
    };
    expect(failing(T0 + 9 * MINUTE, 'slack-floor')).toMatchObject({ state: 'ok' });
    expect(failing(T0 + 10 * MINUTE, 'slack-floor', 'constructor')).toMatchObject({
      state: 'firing',
      severity: 'warning',
      zone: 'hub',
      summary:
        'alert notifications are not getting through: slack-floor has failed for 10 min (the receiver answered 410), 3 waiting; they are kept and retried, and every other way of hearing of alerts still works',
    });
    // A second target past the delay joins the same alert.
    const both = failing(T0 + 11 * MINUTE, 'slack-floor', 'constructor');
    expect(both?.state).toBe('firing');
    expect(both?.summary).toContain('; constructor has failed for 10 min (the receiver answered 410), 4 waiting;');
    expect(failing(T0 + 12 * MINUTE)).toMatchObject({ state: 'ok' });
    // A receiver's own words (an SMTP server's) are repeated only so far.
    const hub = {
      ...healthy,
      notifyFailing: [{ target: 'smtp', since: T0, error: `550 ${'x'.repeat(5000)}`, waiting: 1 }],
    };
    const long = life
      .step(state, { type: 'hub', hub }, T0 + 20 * MINUTE)
      .events.find((e) => e.key === 'notify_failing.hub');
    expect(long?.state).toBe('firing');
    expect(long?.summary?.length).toBeLessThan(400);
  });
});
