// Routing, reminders and grouping as the hub composes them (the rules on a ledger, the outbox,
// the notifier, the routes), on a hand-driven clock, into real HTTP receivers laid out as Slack
// and Teams take them: an unacknowledged critical is reminded at its route's repeat interval
// (escalation going the same way) until it is acknowledged; twenty headsets falling silent at
// once are one grouped notice, and their return one grouped resolved notice.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rulesOnLedger, type RulesOnLedger } from '../hub/compose/alerting.ts';
import { loadConfig } from '../hub/config/config.ts';
import type { Entry } from '../hub/domain/reading.ts';
import { LiveFeed } from '../hub/feed/live-feed.ts';
import { AlertLedger } from '../hub/rules/ledger.ts';
import { SqliteStore } from '../hub/store/sqlite.ts';
import { ManualClock, MINUTE, SECOND, T0 } from './rules-fixtures.ts';
import { eventually, tempDir, testEnv } from './support/hub.ts';
import { startPostReceiver, type Post, type PostReceiver } from './support/receiver.ts';

const HEADSETS = Array.from({ length: 20 }, (_, i) => `hs-b${i + 1}`);

describe('routes, reminders and groups', () => {
  let dir: string;
  let receiver: PostReceiver;
  let posts: Post[];
  let base: string;
  let clock: ManualClock;
  let parts: RulesOnLedger;
  let ledger: AlertLedger;
  let store: SqliteStore;
  let lsn = 0;

  beforeEach(async () => {
    dir = tempDir('floorwatch-routing-');
    receiver = await startPostReceiver((path) => (path === '/teams' ? 202 : 200));
    posts = receiver.posts;
    base = receiver.url;
    lsn = 0;
  });

  /** The hub's alerting parts for a site with these devices. */
  const start = async (devices: Array<Record<string, unknown>>) => {
    clock = new ManualClock(T0);
    const config = loadConfig({
      env: testEnv(dir, {
        config: {
          site: { name: 'Harbour', timezone: 'UTC' },
          zones: [
            { id: 'floor-a', type: 'call_floor' },
            { id: 'floor-b', type: 'call_floor' },
          ],
          devices,
          notify: {
            receivers: [
              { name: 'chat', slack: { url: `${base}/slack` } },
              { name: 'it', teams: { url: `${base}/teams` } },
            ],
            routes: [
              { match: { severity: 'critical' }, receiver: 'chat', repeat_interval: '30m', group_wait: '0s' },
              { match: { kind: 'offline' }, receiver: 'it', group_wait: '10s', group_interval: '1m' },
            ],
          },
        },
      }),
    });
    ledger = new AlertLedger(join(dir, 'alerts.sqlite'));
    store = new SqliteStore({ path: join(dir, 'store.sqlite') });
    await store.init();
    parts = rulesOnLedger(
      {
        config,
        store,
        publish: async () => undefined,
        feed: new LiveFeed(),
        log: pino({ level: 'silent' }),
        now: clock.now,
        timers: clock,
        setAside: { notification: async () => undefined },
        hubStatus: () => ({ storeName: 'sqlite', storeOk: true, backlog: 0, journalWritable: true }),
      },
      ledger,
      { onReload: () => undefined, judgesHub: false },
    );
  };
  afterEach(async () => {
    await parts.close();
    ledger.close();
    await store.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const feed = (...entries: Entry[]) => {
    lsn += entries.length;
    parts.engine.apply(entries, lsn);
  };
  const heartbeat = (device: string, zone: string, state: 'ok' | 'degraded' | 'fault') =>
    feed({
      type: 'heartbeat',
      heartbeat: {
        device,
        zone,
        ts: clock.t,
        kind: 'headset',
        status: state,
        components: { headset: state === 'ok' ? { state } : { state, code: 'dropout' } },
      },
    });
  /** Moves the clock and ticks, as the hub does every second. */
  const at = async (ms: number) => {
    clock.advance(ms - (clock.t - T0));
    await parts.tick();
  };
  /** Waits until nothing waits for the receiver (or any) and `n` posts reached it. */
  const delivered = async (n: number, what: string, receiver?: 'chat' | 'it') => {
    const path = { chat: '/slack', it: '/teams' };
    const to = () => posts.filter((p) => receiver === undefined || p.path === path[receiver]);
    const waiting = () => parts.outbox.waiting(receiver === undefined ? undefined : `receiver ${receiver}`);
    await eventually(() => to().length >= n && waiting() === 0, { what });
    expect(to()).toHaveLength(n);
  };
  const slackPost = (i: number) => posts.filter((p) => p.path === '/slack')[i];
  const slackHeader = (p: Post | undefined) =>
    (p?.body.blocks as Array<{ type: string; text?: { text: string } }> | undefined)?.[0]?.text?.text ?? '';

  it('reminds of an unacknowledged critical at the route’s repeat interval, escalates the same way, and stops once acknowledged', async () => {
    // A battery headset: its silence is no critical for 25 h, so only its fault is.
    await start([{ id: 'hs-a1', kind: 'headset', zone: 'floor-a', battery: true }]);
    heartbeat('hs-a1', 'floor-a', 'fault');
    parts.outbox.kick();
    await delivered(1, 'the firing notice', 'chat');
    expect(slackHeader(slackPost(0))).toMatch(/^Harbour: \[CRITICAL\] Firing: headset hs-a1/);
    await at(15 * MINUTE);
    await delivered(2, 'the escalation, through the same route', 'chat');
    expect(slackHeader(slackPost(1))).toMatch(/Escalated: not acknowledged/);
    await at(44 * MINUTE);
    await delivered(2, 'nothing before the repeat interval', 'chat');
    await at(45 * MINUTE);
    await delivered(3, 'a reminder 30 min after the escalation', 'chat');
    expect(slackHeader(slackPost(2))).toMatch(/Still firing: headset hs-a1/);
    await at(75 * MINUTE);
    await delivered(4, 'the next reminder', 'chat');
    const [firing] = parts.engine.announcedFiring();
    parts.engine.ack(firing!.id, 'sam', 'technician called');
    // What changes in a group that was just told waits for the group interval (1 min).
    await at(76 * MINUTE);
    await delivered(5, 'the acknowledgement', 'chat');
    expect(JSON.stringify(slackPost(4)?.body)).toContain('acknowledged by sam: technician called');
    await at(3 * 60 * MINUTE);
    await delivered(5, 'no reminder once acknowledged', 'chat');
    // Slack's limits: at most 50 blocks, headers of 150 characters, a fallback text.
    for (const p of posts.filter((x) => x.path === '/slack')) {
      const blocks = p.body.blocks as Array<{ type: string; text?: { type: string; text: string } }>;
      expect(typeof p.body.text).toBe('string');
      expect(blocks.length).toBeLessThanOrEqual(50);
      expect(blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
      expect(blocks[0]!.text!.text.length).toBeLessThanOrEqual(150);
      for (const b of blocks.slice(1)) expect(['section', 'context']).toContain(b.type);
    }
  });

  it('tells a receiver of an alert it heard of to the end, once its route no longer matches, in order', async () => {
    await start([{ id: 'hs-a1', kind: 'headset', zone: 'floor-a', battery: true }]);
    heartbeat('hs-a1', 'floor-a', 'fault');
    parts.outbox.kick();
    await delivered(1, 'the critical firing', 'chat');
    // Down to a warning, then over: the critical route no longer matches, chat still hears of both.
    await at(2 * MINUTE);
    heartbeat('hs-a1', 'floor-a', 'degraded');
    await at(4 * MINUTE);
    heartbeat('hs-a1', 'floor-a', 'ok');
    await at(6 * MINUTE);
    await delivered(3, 'the downgrade and the resolution', 'chat');
    expect(slackHeader(slackPost(1))).toMatch(/Severity changed: headset hs-a1/);
    expect(slackHeader(slackPost(2))).toMatch(/Resolved: headset hs-a1/);
  });

  it('tells of three hundred headsets that fall silent together in one notice that lists the first and counts the rest', async () => {
    const many = Array.from({ length: 300 }, (_, i) => `hs-c${i + 1}`);
    await start(many.map((id) => ({ id, kind: 'headset', zone: 'floor-b', heartbeat_interval: '30s' })));
    for (const id of many) heartbeat(id, 'floor-b', 'ok');
    await at(3 * MINUTE);
    parts.outbox.kick();
    await at(3 * MINUTE + 10 * SECOND);
    await delivered(1, 'one notice for the whole outage');
    const text = JSON.stringify(posts[0]?.body);
    expect(text).toContain('Harbour: 300 open — zone floor-b, offline');
    expect(text).toContain('… and 280 more');
  });

  it('tells of twenty headsets that fall silent together in one notice, and of their return in one more', async () => {
    await start(HEADSETS.map((id) => ({ id, kind: 'headset', zone: 'floor-b', heartbeat_interval: '30s' })));
    for (const id of HEADSETS) heartbeat(id, 'floor-b', 'ok');
    // After the start-up grace, silence past 3 intervals: every headset in the same tick.
    await at(3 * MINUTE);
    parts.outbox.kick();
    expect(posts).toHaveLength(0);
    await at(3 * MINUTE + 10 * SECOND);
    await delivered(1, 'one grouped notice');
    const card = (p: Post | undefined) =>
      (
        p?.body.attachments as Array<{
          contentType: string;
          content: { type: string; version: string; body: Array<{ type: string; text?: string }> };
        }>
      )[0]!;
    const first = card(posts[0]);
    expect(first.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(first.content).toMatchObject({ type: 'AdaptiveCard', version: '1.5' });
    expect(first.content.body[0]?.text).toBe('Harbour: 20 open — zone floor-b, offline');
    expect(first.content.body.filter((b) => b.type === 'Container')).toHaveLength(20);
    // Each comes back on its own (two fresh heartbeats each), a few seconds apart.
    for (const [i, id] of HEADSETS.entries()) {
      clock.advance(SECOND);
      heartbeat(id, 'floor-b', 'ok');
      heartbeat(id, 'floor-b', 'ok');
      if (i === 0) parts.outbox.kick();
    }
    await at(4 * MINUTE + 10 * SECOND);
    await delivered(2, 'one grouped resolved notice, a group interval after the first');
    const second = card(posts[1]);
    expect(second.content.body[0]?.text).toBe('Harbour: 20 resolved — zone floor-b, offline');
    expect(JSON.stringify(posts).length).toBeLessThan(2 * 28_000);
  });
});
