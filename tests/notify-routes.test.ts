// The route tree, as Alertmanager walks it: first match among siblings unless `continue`, the
// deepest matching child, inheritance of receiver, grouping and repeat interval, the default
// receiver, each receiver once; and the configuration's checks of routes and receivers.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig } from '../hub/config/config.ts';
import type { Alert } from '../hub/domain/alert.ts';
import { Routes } from '../hub/notify/routes.ts';
import { tempDir, testEnv } from './support/hub.ts';
import { hostileName } from './support/hostile-names.ts';

const receivers = [
  { name: 'facilities', webhook: { url: 'http://127.0.0.1:9/f', secret: 'a-secret-of-sixteen+' } },
  { name: 'it-desk', teams: { url: 'http://127.0.0.1:9/t' } },
  { name: 'night', slack: { url: 'http://127.0.0.1:9/s' } },
  { name: 'log', webhook: { url: 'http://127.0.0.1:9/l', secret: 'a-secret-of-sixteen+' } },
];

function notifyConfig(notify: Record<string, unknown>) {
  return loadConfig({ env: testEnv(tempDir(), { config: { notify: { receivers, ...notify } } }) }).notify;
}

function alert(fields: Partial<Alert>): Alert {
  return {
    id: 1,
    key: 'offline.hs-a2',
    rule: 'offline',
    subject: 'hs-a2',
    zone: 'floor-a',
    state: 'firing',
    severity: 'warning',
    summary: '',
    startsAt: 0,
    updatedAt: 0,
    ...fields,
  };
}

describe('routes', () => {
  const routes = new Routes(
    notifyConfig({
      default_receiver: 'log',
      routes: [
        { match: { severity: 'critical' }, receiver: 'facilities', repeat_interval: '30m', continue: true },
        {
          match: { kind: 'equipment' },
          receiver: 'it-desk',
          group_by: ['zone'],
          routes: [{ match: { rule: 'equipment.headset', zone: ['floor-b', 'floor-c'] }, receiver: 'night' }],
        },
        { match: { kind: ['offline', 'equipment'] }, receiver: 'facilities', group_wait: '1m' },
      ],
    }),
  );
  const to = (a: Partial<Alert>) => routes.destinations(alert(a)).map((d) => d.receiver);

  it('sends an alert to the first route that matches, and on past a route that says continue', () => {
    expect(to({ severity: 'critical', rule: 'temperature', key: 'temperature.t-1' })).toEqual(['facilities']);
    expect(to({ severity: 'critical', rule: 'equipment.pc', key: 'equipment.pc.pc-1' })).toEqual([
      'facilities',
      'it-desk',
    ]);
    // The equipment route matched, so the later offline/equipment route is not reached.
    expect(to({ rule: 'equipment.pc', key: 'equipment.pc.pc-1' })).toEqual(['it-desk']);
    expect(to({ rule: 'offline' })).toEqual(['facilities']);
  });

  it('hands an alert to the child that matches, keeps it at the parent when none does, and a rule matches its sub-rules', () => {
    expect(to({ rule: 'equipment.headset', key: 'equipment.headset.hs-b1', zone: 'floor-b' })).toEqual(['night']);
    expect(to({ rule: 'equipment.headset', key: 'equipment.headset.hs-a1', zone: 'floor-a' })).toEqual(['it-desk']);
  });

  it('sends what no route matches to the default receiver', () => {
    expect(to({ rule: 'temperature', key: 'temperature.t-1' })).toEqual(['log']);
  });

  it('groups by the route’s fields (inherited by children), and says which route reminds how often', () => {
    const [child] = routes.destinations(alert({ rule: 'equipment.headset', zone: 'floor-b' }));
    expect(child).toMatchObject({ route: '1.0', group: 'route=1.0 zone=floor-b', groupWaitMs: 10_000 });
    const offline = routes.destinations(alert({ rule: 'offline' }))[0];
    expect(offline).toMatchObject({ route: '2', group: 'route=2 zone=floor-a kind=offline', groupWaitMs: 60_000 });
    expect(routes.reminders(alert({ severity: 'critical', rule: 'offline' }))).toEqual([
      { route: '0', everyMs: 1_800_000 },
    ]);
    expect(routes.reminds).toBe(true);
  });

  it('without routes, every receiver hears of every alert, reminding of none', () => {
    const all = new Routes(notifyConfig({}));
    expect(all.destinations(alert({})).map((d) => d.receiver)).toEqual(['facilities', 'it-desk', 'night', 'log']);
    expect(all.reminds).toBe(false);
  });

  it('takes zone, device and rule names from outside as plain text', () => {
    fc.assert(
      fc.property(hostileName, hostileName, (zone, device) => {
        const list = routes.destinations(alert({ zone, subject: device, rule: 'offline', key: `offline.${device}` }));
        expect(list.map((d) => d.receiver)).toEqual(['facilities']);
        expect(list[0]?.group).toBe(`route=2 zone=${zone} kind=offline`);
      }),
    );
  });

  it('refuses receivers named twice, routes to receivers that do not exist, and receivers with no or two channels', () => {
    const problems = (notify: Record<string, unknown>) => {
      try {
        loadConfig({ env: testEnv(tempDir(), { config: { notify } }) });
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(problems({ receivers: [...receivers, receivers[0]] })).toContain('receiver "facilities" is listed twice');
    expect(problems({ receivers, routes: [{ receiver: 'nobody' }] })).toMatch(
      /notify\.routes\.0\.receiver.*names receiver "nobody", which is not under notify\.receivers/,
    );
    expect(problems({ receivers, default_receiver: 'nobody' })).toContain('names receiver "nobody"');
    expect(problems({ receivers, routes: [{ match: { zone: 'a' } }] })).toContain('needs a receiver');
    expect(problems({ receivers: [{ name: 'x' }] })).toContain('needs exactly one of email, teams, slack or webhook');
    expect(
      problems({ receivers: [{ name: 'x', teams: { url: 'http://a/' }, slack: { url: 'http://a/' } }] }),
    ).toContain('needs exactly one of');
    expect(problems({ receivers, routes: [{ receiver: 'log', match: { kind: 'weather' } }] })).toContain(
      'notify.routes.0.match.kind',
    );
    expect(problems({ receivers: [{ name: '__proto__', slack: { url: 'http://a/' } }] })).toContain(
      'notify.receivers.0.name',
    );
  });
});
