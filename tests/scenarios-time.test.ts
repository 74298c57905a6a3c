// What the hub judges by the clock, on a simulated floor whose time is the hub's: opening hours
// with a night set-back, a weekly maintenance window across two weeks, reminders of an
// unacknowledged critical, and a sensor no one declared that stops. Days of floor run in seconds;
// the notices go to a webhook receiver, to be counted and timed.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../hub/domain/alert.ts';
import type { AlertNotice } from '../hub/notify/notifier.ts';
import { storeCaughtUp } from './support/hub.ts';
import { DAY, HOUR, MINUTE, mondayWeeksAgo, startFloorRun, type FloorRun } from './support/floor-run.ts';
import { startPostReceiver } from './support/receiver.ts';

const receiver = await startPostReceiver();
afterAll(() => receiver.close());

/** Every notice to the receiver `duty` routes them to, in order. */
const notices = () => receiver.posts.filter((p) => p.path === '/duty').map((p) => p.body as unknown as AlertNotice);

/** A route of everything `match` names to the receiver, told at once (no grouping wait). */
function duty(match: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    receivers: [{ name: 'duty', webhook: { url: `${receiver.url}/duty`, secret: 'sixteen-chars-or-more' } }],
    routes: [{ match, receiver: 'duty', group_wait: '0s', group_interval: '0s', ...extra }],
  };
}

let run: FloorRun | undefined;
afterEach(async () => {
  await run?.stop();
  run = undefined;
  receiver.posts.length = 0;
});

const alertsOf = async (r: FloorRun, rule: string) =>
  (await r.hub.json<{ alerts: Alert[] }>('/api/v1/alerts?limit=10000')).alerts.filter(
    (a) => a.rule === rule || a.rule.startsWith(`${rule}.`),
  );

const points = async (r: FloorRun, device: string, metric: string, from: number, to: number) =>
  (
    await r.hub.json<{ points: Array<{ ts: number; value: number }> }>(
      `/api/v1/readings?device=${device}&metric=${metric}&from=${from}&to=${to}&limit=100000`,
    )
  ).points;

describe('scenarios on the hub’s own clock', () => {
  it('a night set-back raises nothing; a room still cold half an hour after opening does, once', async () => {
    const monday = mondayWeeksAgo(3);
    run = await startFloorRun({
      start: monday,
      fleet: {
        site: { season: 'winter' },
        zones: [
          {
            id: 'sb-floor',
            shifts: [{ start: '08:00', end: '20:00' }],
            setback: { temperature: 16.5, from: '20:00', to: '07:00' },
          },
        ],
        sensors: [
          { id: 'sb-env1', zone: 'sb-floor', interval: '5m', heartbeat_interval: '5m', metrics: ['temperature'] },
        ],
        // Tuesday: the HVAC does not leave its set-back at 07:00, only at 10:00.
        scenarios: [{ type: 'setback_stuck', zone: 'sb-floor', at: '31h', duration: '3h' }],
      },
      hub: {
        site: { timezone: 'UTC', hours: { 'mon-fri': '08:00-20:00' }, warm_up: '30m' },
        notify: duty({ kind: 'environment' }),
      },
      tickMs: 5 * MINUTE,
    });
    await run.advanceTo(36 * 60);
    await storeCaughtUp(run.hub);

    // The floor did what the fleet says: set back at night, comfortable by day, cold on Tuesday morning.
    const temperatures = (from: number, to: number) =>
      points(run!, 'sb-env1', 'temperature', monday + from, monday + to).then((p) => p.map((x) => x.value));
    expect(Math.max(...(await temperatures(2 * HOUR, 6 * HOUR)))).toBeLessThan(17.5);
    expect(Math.min(...(await temperatures(9 * HOUR, 19 * HOUR)))).toBeGreaterThan(20);
    expect(Math.max(...(await temperatures(DAY + 2 * HOUR, DAY + 6 * HOUR)))).toBeLessThan(17.5);
    expect(Math.max(...(await temperatures(DAY + 8 * HOUR, DAY + 10 * HOUR)))).toBeLessThan(17.5);

    // One temperature alert in 36 hours: judged from 08:30 on Tuesday, firing after its 15 minutes.
    const alerts = await alertsOf(run, 'temperature');
    expect(alerts).toHaveLength(1);
    const [cold] = alerts;
    expect(cold).toMatchObject({ rule: 'temperature', zone: 'sb-floor', severity: 'warning', state: 'resolved' });
    const tuesday0830 = monday + DAY + 8.5 * HOUR;
    expect(cold!.startsAt).toBeGreaterThanOrEqual(tuesday0830);
    expect(cold!.startsAt).toBeLessThan(tuesday0830 + 5 * MINUTE);
    expect(cold!.firingAt! - cold!.startsAt).toBe(15 * MINUTE);
    expect(cold!.resolvedAt!).toBeGreaterThan(monday + DAY + 10 * HOUR);

    // Told once that it fired and once that it resolved; nothing at night.
    await storeCaughtUp(run.hub);
    const told = notices();
    expect(told.map((n) => [n.event, n.alert.rule, n.at])).toEqual([
      ['firing', 'temperature', cold!.firingAt],
      ['resolved', 'temperature', cold!.resolvedAt],
    ]);
  });

  it('a weekly Tuesday 02:00–04:00 window silences exactly that window, two weeks running', async () => {
    const monday = mondayWeeksAgo(4);
    // A loud event every 40 minutes through Tuesday night, each week, and one on Wednesday night.
    const loud = (at: number, duration: number) => ({
      type: 'spikes',
      device: 'mw-env1',
      metric: 'noise_peak',
      value: 138,
      every: '40m',
      at: `${at / MINUTE}m`,
      duration: `${duration / MINUTE}m`,
    });
    run = await startFloorRun({
      start: monday,
      fleet: {
        site: { season: 'winter' },
        zones: [{ id: 'mw-floor' }],
        sensors: [
          { id: 'mw-env1', zone: 'mw-floor', interval: '5m', heartbeat_interval: '1h', metrics: ['noise_peak'] },
        ],
        scenarios: [
          loud(DAY + 40 * MINUTE, 4 * HOUR + 40 * MINUTE),
          loud(2 * DAY + 2 * HOUR + 20 * MINUTE, 10 * MINUTE),
          loud(8 * DAY + 40 * MINUTE, 4 * HOUR + 40 * MINUTE),
        ],
      },
      hub: { site: { timezone: 'UTC' }, notify: duty({ rule: 'noise_peak' }) },
      tickMs: HOUR,
    });
    const created = await run.hub.api('/api/v1/silences', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: { zone: 'mw-floor' },
        recurrence: { every: 'week', days: ['tue'], start: '02:00', duration: '2h' },
        createdBy: 'facilities',
        comment: 'weekly acoustic panel maintenance',
      }),
    });
    expect(created.status).toBe(201);
    await run.advanceTo(8 * 24 * 60 + 6 * 60);
    await storeCaughtUp(run.hub);

    const spikes = (await points(run, 'mw-env1', 'noise_peak', monday, monday + 9 * DAY))
      .filter((p) => p.value === 138)
      .map((p) => p.ts);
    expect(spikes).toHaveLength(15);
    const inWindow = (ts: number) => {
      const day = new Date(ts);
      const minute = day.getUTCHours() * 60 + day.getUTCMinutes();
      return day.getUTCDay() === 2 && minute >= 120 && minute < 240;
    };
    const silenced = spikes.filter(inWindow);
    // 02:00, 02:40 and 03:20 each Tuesday; the spike at 04:00 is already outside.
    expect(silenced).toHaveLength(6);
    const alerts = await alertsOf(run, 'noise_peak');
    expect(alerts.map((a) => a.firingAt).sort()).toEqual(spikes);
    const firing = notices().filter((n) => n.event === 'firing');
    expect(firing.map((n) => n.alert.firingAt)).toEqual(spikes.filter((ts) => !inWindow(ts)));
    expect(firing.every((n) => !n.late)).toBe(true);
    // Each one told is told resolved; the silenced ones are not told at all.
    const resolved = notices().filter((n) => n.event === 'resolved');
    expect(resolved.map((n) => n.alert.firingAt)).toEqual(firing.map((n) => n.alert.firingAt));
  });

  it('an unacknowledged critical is reminded at its route’s repeat interval, until acknowledged', async () => {
    const start = mondayWeeksAgo(2) + 10 * HOUR;
    run = await startFloorRun({
      start,
      fleet: {
        zones: [{ id: 'rm-srv', type: 'server_room' }],
        sensors: [{ id: 'rm-rack1', zone: 'rm-srv', interval: '1m', heartbeat_interval: '1m' }],
        scenarios: [{ type: 'cooling_failure', zone: 'rm-srv', at: '10m' }],
      },
      hub: { site: { timezone: 'UTC' }, notify: duty({ severity: 'critical' }, { repeat_interval: '30m' }) },
    });
    await run.advanceTo(100);
    const [critical] = await alertsOf(run, 'temperature');
    expect(critical).toMatchObject({ severity: 'critical', state: 'firing' });
    const ack = await run.hub.api(`/api/v1/alerts/${critical!.id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'duty.engineer', comment: 'portable cooling on its way' }),
    });
    expect(ack.status).toBe(200);
    await run.advanceTo(160);

    // The route takes criticals: it is first told when the rack's warning turned critical.
    const about = notices().filter((n) => n.alert.id === critical!.id);
    expect(about[0]).toMatchObject({ event: 'severity', at: critical!.criticalSince, alert: { severity: 'critical' } });
    // Escalated after 15 minutes unacknowledged (rules.escalate_after), then reminded 30 minutes
    // after it was last told, at the first tick (a minute apart) once due; nothing after the ack.
    const told = about.filter((n) => n.event !== 'acknowledged');
    expect(told.map((n) => n.event)).toEqual(['severity', 'escalated', 'reminder', 'reminder']);
    expect(told[1]!.at - told[0]!.at).toBeGreaterThanOrEqual(15 * MINUTE);
    expect(told[1]!.at - told[0]!.at).toBeLessThanOrEqual(16 * MINUTE);
    for (const i of [2, 3]) {
      expect(told[i]!.at - told[i - 1]!.at).toBeGreaterThanOrEqual(30 * MINUTE);
      expect(told[i]!.at - told[i - 1]!.at).toBeLessThanOrEqual(31 * MINUTE);
    }
    expect(told[3]!.at).toBeLessThan(run.start + 100 * MINUTE);
    expect(about.at(-1)).toMatchObject({ event: 'acknowledged', alert: { ack: { by: 'duty.engineer' } } });
  });

  it('a sensor no one declared that stops reporting is alerted within three times its cadence', async () => {
    const start = mondayWeeksAgo(2) + 9 * HOUR;
    run = await startFloorRun({
      start,
      fleet: {
        zones: [{ id: 'ud-floor' }],
        sensors: [{ id: 'ud-env1', zone: 'ud-floor', interval: '1m', heartbeat_interval: '1m', metrics: ['co2'] }],
        // Still connected, its measuring task hung: no last will, only silence.
        scenarios: [{ type: 'stops_reporting', device: 'ud-env1', at: '30m' }],
      },
      undeclared: ['ud-env1'],
      hub: { site: { timezone: 'UTC' }, rules: { startup_grace: '0s' } },
      tickMs: 10_000,
    });
    await run.advanceTo(29);
    expect(await alertsOf(run, 'offline')).toEqual([]);
    await run.advanceTo(40);
    await storeCaughtUp(run.hub);

    const last = Math.max(...(await points(run, 'ud-env1', 'co2', start, start + HOUR)).map((p) => p.ts));
    expect(last).toBeLessThan(start + 30 * MINUTE);
    expect(last).toBeGreaterThanOrEqual(start + 29 * MINUTE);
    const alerts = await alertsOf(run, 'offline');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ subject: 'ud-env1', state: 'firing' });
    expect(alerts[0]!.summary).toMatch(/as observed; not declared/);
    expect(alerts[0]!.firingAt! - last).toBeGreaterThan(MINUTE);
    expect(alerts[0]!.firingAt! - last).toBeLessThanOrEqual(3 * MINUTE);
  });
});
