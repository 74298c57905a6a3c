// The live feed (GET /api/v1/events) is bounded: at limits.max_event_streams open streams a further
// one is refused with a 503 that says why, counted in floorwatch_event_streams and logged; a stream
// that closes makes room. Every open stream gets each reading, encoded once for all of them. One
// token holds at most limits.max_event_streams_per_token.
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../hub/security/credentials.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { capturedLog, eventually, metric, startTestHub, type TestHub } from './support/hub.ts';

describe('the live feed’s bound', () => {
  let hub: TestHub | undefined;
  const streams: AbortController[] = [];

  afterEach(async () => {
    for (const s of streams.splice(0)) s.abort();
    await hub?.dispose();
    hub = undefined;
  });

  /** Opens a stream; its text so far, read as it comes. */
  const open = async (token?: string) => {
    const controller = new AbortController();
    streams.push(controller);
    const query = token === undefined ? '' : `?access_token=${encodeURIComponent(token)}`;
    const response = await hub!.api(`/api/v1/events${query}`, { signal: controller.signal });
    if (response.status !== 200) return { status: response.status, body: await response.text(), controller };
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const seen = { text: '' };
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done || value === undefined) return;
        seen.text += value;
      }
    })();
    return { status: 200, seen, controller };
  };

  it('refuses a stream past limits.max_event_streams, saying why, and takes one once another closes', async () => {
    const log = capturedLog('warn');
    hub = await startTestHub({ config: { limits: { max_event_streams: 2 } }, log: log.log });
    const first = await open();
    const second = await open();
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await open();
    expect(third.status).toBe(503);
    expect(JSON.parse(third.body!)).toMatchObject({
      message: '2 live feeds are open, the most limits.max_event_streams allows (2); close one, or raise the limit',
    });
    expect(await metric(hub, /^floorwatch_event_streams (\d+)$/m)).toBe(2);
    expect(
      log.lines.some((l) =>
        l.startsWith('2 live feeds are open, the most limits.max_event_streams allows: 1 further one(s) refused'),
      ),
    ).toBe(true);

    // Both open streams get the reading, the same text.
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'sse-2' });
    await client.publishAsync('floorwatch/devices/sse-2/telemetry', JSON.stringify({ humidity: 41 }), { qos: 1 });
    await client.endAsync();
    const event = (text: string) => text.split('\n\n').find((e) => e.startsWith('event: reading'));
    const texts = await eventually(() => {
      const both = [first.seen!.text, second.seen!.text].map(event);
      return both.every((t) => t !== undefined) ? both : undefined;
    });
    expect(texts[0]).toBe(texts[1]);
    expect(JSON.parse(texts[0]!.split('data: ')[1]!)).toMatchObject({
      device: 'sse-2',
      metric: 'humidity',
      value: 41,
      unit: '%RH',
    });

    first.controller.abort();
    await eventually(async () => (await metric(hub!, /^floorwatch_event_streams (\d+)$/m)) === 1, {
      what: 'the stream closed',
    });
    expect((await open()).status).toBe(200);
  });

  it('refuses a token a stream past limits.max_event_streams_per_token, while another token still opens one', async () => {
    hub = await startTestHub({ config: { limits: { max_event_streams: 10, max_event_streams_per_token: 2 } } });
    // Before any token exists, the hub answers only on its own machine: no one holds its feeds.
    const anonymous = [await open(), await open(), await open()];
    expect(anonymous.map((a) => a.status)).toEqual([200, 200, 200]);
    for (const s of streams.splice(0)) s.abort();
    await eventually(async () => (await metric(hub!, /^floorwatch_event_streams (\d+)$/m)) === 0);

    // Names from outside that are also properties of every object.
    const tokens = new ApiTokens(hub.dataDir);
    const wall = tokens.create('constructor', 'operator', Date.now());
    const lead = tokens.create('toString', 'operator', Date.now());
    const walls = [await open(wall), await open(wall)];
    expect(walls.map((w) => w.status)).toEqual([200, 200]);
    const refused = await open(wall);
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body!)).toMatchObject({
      message:
        '2 live feeds are open with token constructor, the most limits.max_event_streams_per_token allows; close one, or raise the limit',
    });
    expect((await open(lead)).status).toBe(200);
    expect(await metric(hub, /^floorwatch_event_streams (\d+)$/m, wall)).toBe(3);

    // A device's password writes its readings and opens no feed: only tokens hold feeds.
    const password = await new DeviceCredentials(hub.dataDir).add('constructor', undefined, Date.now());
    const basic = `Basic ${Buffer.from(`constructor:${password}`).toString('base64')}`;
    expect((await hub.api('/api/v1/events', { headers: { authorization: basic } })).status).toBe(401);

    // A stream that closes gives its token the place back.
    walls[0]!.controller.abort();
    await eventually(async () => (await metric(hub!, /^floorwatch_event_streams (\d+)$/m, wall)) === 2);
    expect((await open(wall)).status).toBe(200);
  });
});
