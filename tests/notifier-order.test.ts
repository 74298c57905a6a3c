// The order of an alert's MQTT messages, and that alerts do not wait for one another: a retained
// publish a cluster's stopped Redis takes seconds to refuse holds up its own alert's topic only.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Alert, AlertEvent } from '../hub/domain/alert.ts';
import { Notifier } from '../hub/notify/notifier.ts';
import type { Outbox } from '../hub/notify/outbox.ts';

function event(id: number, key: string, kind: 'firing' | 'resolved', zone = 'floor-a'): AlertEvent {
  const alert: Alert = {
    id,
    key,
    rule: 'offline',
    subject: key.split('.')[1] ?? key,
    zone,
    state: kind,
    severity: 'critical',
    summary: key,
    startsAt: 1000,
    updatedAt: 1000,
  };
  return { alertId: id, key, kind, at: 1000, alert, notified: true };
}

/** A publish whose every call waits until the test lets it go; the calls in the order made. */
function heldPublish() {
  const calls: Array<{ topic: string; payload: string; retain: boolean; done: () => void }> = [];
  const publish = (topic: string, payload: string, { retain }: { retain: boolean }) =>
    new Promise<void>((resolve) => calls.push({ topic, payload, retain, done: resolve }));
  return { calls, publish };
}

function notifier(publish: ReturnType<typeof heldPublish>['publish']): Notifier {
  const outbox = { kick: () => {} } as unknown as Outbox;
  return new Notifier({
    site: 's',
    prefix: 'floorwatch',
    log: pino({ level: 'silent' }),
    outbox,
    notices: [],
    publish,
  });
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** The messages a notifier publishes for these events, each answered as it is asked: topic, and cleared or notice. */
async function publishedFor(...announced: AlertEvent[]): Promise<Array<[string, string]>> {
  const { calls, publish } = heldPublish();
  const n = notifier(publish);
  for (const e of announced) n.announce([e]);
  let flushed = false;
  void n.flushed().then(() => (flushed = true));
  for (let answered = 0; !flushed; answered++) {
    await turn();
    calls[answered]?.done();
  }
  return calls.map((c) => [c.topic, c.payload === '' ? 'cleared' : 'notice']);
}

describe('the notifier’s MQTT messages', () => {
  it('publishes another alert while one alert’s retained message still waits', async () => {
    const { calls, publish } = heldPublish();
    const n = notifier(publish);
    n.announce([event(1, 'offline.pc-1', 'firing'), event(2, 'offline.pc-2', 'firing')]);
    await turn();
    // Neither has been answered, and both were asked for.
    expect(calls.map((c) => [c.topic, c.retain])).toEqual([
      ['floorwatch/alerts/floor-a/offline.pc-1', true],
      ['floorwatch/alerts/floor-a/offline.pc-2', true],
    ]);
    for (const c of calls) c.done();
    await n.flushed();
  });

  it('keeps one alert’s messages in order: its resolution waits for its firing, then clears it', async () => {
    const { calls, publish } = heldPublish();
    const n = notifier(publish);
    n.announce([event(1, 'offline.pc-1', 'firing')]);
    n.announce([event(1, 'offline.pc-1', 'resolved')]);
    await turn();
    expect(calls).toHaveLength(1);
    let flushed = false;
    const all = n.flushed().then(() => (flushed = true));
    calls[0]!.done();
    await turn();
    // The resolution, not retained, then the empty retained message that clears the firing.
    expect(calls.map((c) => [c.retain, (JSON.parse(c.payload || '{}') as { event?: string }).event])).toEqual([
      [true, 'firing'],
      [false, 'resolved'],
    ]);
    calls[1]!.done();
    await turn();
    expect(calls[2]).toMatchObject({ retain: true, payload: '' });
    expect(flushed).toBe(false);
    calls[2]!.done();
    await all;
    expect(flushed).toBe(true);
  });

  it('keeps an alert’s messages in order when its device moved zone, and clears what it kept in the zone it left', async () => {
    const { calls, publish } = heldPublish();
    const n = notifier(publish);
    n.announce([event(1, 'offline.pc-1', 'firing', 'floor-a')]);
    n.announce([event(1, 'offline.pc-1', 'resolved', 'floor-b')]);
    await turn();
    expect(calls.map((c) => c.topic)).toEqual(['floorwatch/alerts/floor-a/offline.pc-1']);
    for (let answered = 0; answered < 4; answered++) {
      calls[answered]?.done();
      await turn();
    }
    await n.flushed();
    expect(calls.map((c) => [c.topic, c.retain, c.payload === '' ? 'cleared' : 'notice'])).toEqual([
      ['floorwatch/alerts/floor-a/offline.pc-1', true, 'notice'],
      ['floorwatch/alerts/floor-a/offline.pc-1', true, 'cleared'],
      ['floorwatch/alerts/floor-b/offline.pc-1', false, 'notice'],
      ['floorwatch/alerts/floor-b/offline.pc-1', true, 'cleared'],
    ]);
  });

  it('clears the message an alert kept in the zone its device left when it fires again in the new one', async () => {
    const published = await publishedFor(
      event(1, 'offline.pc-1', 'firing', 'floor-a'),
      event(1, 'offline.pc-1', 'firing', 'floor-b'),
      event(1, 'offline.pc-1', 'firing', 'floor-b'),
    );
    expect(published).toEqual([
      ['floorwatch/alerts/floor-a/offline.pc-1', 'notice'],
      ['floorwatch/alerts/floor-a/offline.pc-1', 'cleared'],
      ['floorwatch/alerts/floor-b/offline.pc-1', 'notice'],
      ['floorwatch/alerts/floor-b/offline.pc-1', 'notice'],
    ]);
  });

  it('clears the zone a key’s earlier alert was kept on when a later alert of the key fires elsewhere, its resolution never told', async () => {
    // Alert 1 resolved while a silence held it; alert 2 of the same device fires in its new zone.
    const published = await publishedFor(
      event(1, 'offline.pc-1', 'firing', 'floor-a'),
      event(2, 'offline.pc-1', 'firing', 'floor-b'),
    );
    expect(published).toEqual([
      ['floorwatch/alerts/floor-a/offline.pc-1', 'notice'],
      ['floorwatch/alerts/floor-a/offline.pc-1', 'cleared'],
      ['floorwatch/alerts/floor-b/offline.pc-1', 'notice'],
    ]);
  });

  it('lets a new alert on a topic fire only after an earlier one’s resolution has cleared it', async () => {
    const { calls, publish } = heldPublish();
    const n = notifier(publish);
    n.announce([event(1, 'offline.pc-1', 'resolved')]);
    n.announce([event(2, 'offline.pc-1', 'firing')]);
    await turn();
    expect(calls).toHaveLength(1);
    calls[0]!.done();
    await turn();
    calls[1]!.done();
    await turn();
    expect(calls.map((c) => [c.retain, c.payload === '' ? 'cleared' : 'notice'])).toEqual([
      [false, 'notice'],
      [true, 'cleared'],
      [true, 'notice'],
    ]);
    calls[2]!.done();
    await n.flushed();
  });
});
