// Webhook delivery through the durable outbox, against a real HTTP receiver on 127.0.0.1 that goes
// down and comes back. The backoff runs on an injected clock, so two minutes pass in milliseconds.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { chatTarget, slackBlocks, teamsCard } from '../hub/notify/chat.ts';
import { Outbox } from '../hub/notify/outbox.ts';
import { postJson, signature, webhookTarget } from '../hub/notify/webhook.ts';
import { freePort } from './support/influxd.ts';
import { eventually, tempDir } from './support/hub.ts';
import { offlineNoticeRow } from './support/receiver.ts';
import { ManualClock, SECOND, T0 } from './rules-fixtures.ts';

const SECRET = 'a-shared-secret-of-some-length';

interface Received {
  body: string;
  signature: string | undefined;
  delivery: string | undefined;
}

async function receiver(port: number, received: Received[]): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({
        body,
        signature: req.headers['x-floorwatch-signature'] as string | undefined,
        delivery: req.headers['x-floorwatch-delivery'] as string | undefined,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('webhook outbox', () => {
  let dir: string;
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a receiver down for 2 minutes gets every notification afterwards, once each, in order, signed', async () => {
    dir = tempDir('floorwatch-outbox-');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/floorwatch`;
    const clock = new ManualClock(T0);
    const attempts: number[] = [];
    const target = webhookTarget({ url, secret: SECRET });
    const counted = {
      ...target,
      deliver: (rows: Parameters<typeof target.deliver>[0]) => (attempts.push(clock.t), target.deliver(rows)),
    };
    const open = (db: Database.Database) =>
      new Outbox({
        db,
        targets: [counted],
        log: pino({ level: 'silent' }),
        now: clock.now,
        timers: clock,
        retryFirstMs: SECOND,
        retryMaxMs: 30 * SECOND,
        maxWaiting: 10_000,
      });
    let db = new Database(join(dir, 'alerts.sqlite'));
    let outbox = open(db);

    const payloads = Array.from({ length: 6 }, (_, i) =>
      JSON.stringify({ event: i % 2 === 0 ? 'firing' : 'resolved', alert: { id: i } }),
    );
    for (const p of payloads.slice(0, 3)) outbox.enqueue(target.name, p);
    outbox.kick();
    await eventually(() => attempts.length === 1 && clock.pendingTimers() === 1, { what: 'the first failed attempt' });

    // Two minutes of floor time with the receiver down; the hub restarts in the middle of it.
    for (let t = 0; t < 60; t++) {
      clock.advance(SECOND);
      await eventually(() => clock.pendingTimers() === 1, { what: 'the next retry to be scheduled' });
    }
    await outbox.close();
    db.close();
    db = new Database(join(dir, 'alerts.sqlite'));
    outbox = open(db);
    for (const p of payloads.slice(3)) outbox.enqueue(target.name, p);
    outbox.kick();
    await eventually(() => clock.pendingTimers() === 1, { what: 'a retry after the restart' });
    for (let t = 0; t < 60; t++) {
      clock.advance(SECOND);
      await eventually(() => clock.pendingTimers() === 1, { what: 'the next retry to be scheduled' });
    }
    expect(outbox.waiting()).toBe(6);
    const gaps = attempts.slice(1, 7).map((at, i) => at - attempts[i]!);
    // Exponential backoff: 1, 2, 4, 8, 16 s, then capped at 30 s.
    expect(gaps.slice(0, 5)).toEqual([1, 2, 4, 8, 16].map((s) => s * SECOND));

    const received: Received[] = [];
    server = await receiver(port, received);
    clock.advance(30 * SECOND);
    await eventually(() => outbox.waiting() === 0, { what: 'the outbox to drain' });
    expect(received.map((r) => r.body)).toEqual(payloads);
    for (const r of received) expect(r.signature).toBe(signature(SECRET, r.body));
    expect(new Set(received.map((r) => r.delivery)).size).toBe(6);
    await outbox.close();
    db.close();
  });

  /** An outbox on a manual clock, retrying after 1 s, with one webhook served by `answer`. */
  async function webhookOutbox(answer: (body: string, res: ServerResponse) => void) {
    dir = tempDir('floorwatch-outbox-');
    const port = await freePort();
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => answer(body, res));
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    const clock = new ManualClock(T0);
    const db = new Database(join(dir, 'alerts.sqlite'));
    const target = webhookTarget({ url: `http://127.0.0.1:${port}/`, secret: SECRET });
    const outbox = new Outbox({
      db,
      targets: [target],
      log: pino({ level: 'silent' }),
      now: clock.now,
      timers: clock,
      retryFirstMs: SECOND,
      retryMaxMs: SECOND,
      maxWaiting: 10_000,
    });
    outbox.enqueue(target.name, '{"n":1}');
    outbox.kick();
    return {
      clock,
      outbox,
      close: async () => {
        await outbox.close();
        db.close();
      },
    };
  }

  it('an answer without end is read no further than its start: the delivery is done, and the connection let go', async () => {
    let closed!: () => void;
    const letGo = new Promise<void>((resolve) => (closed = resolve));
    const chunk = Buffer.alloc(1024 * 1024, 120);
    const endless = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const more = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', more);
      res.on('close', closed);
      more();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    const { port } = endless.address() as { port: number };
    try {
      await expect(postJson(`http://127.0.0.1:${port}/hook`, '{}', { timeoutMs: 60_000 })).resolves.toBeUndefined();
      await letGo;
    } finally {
      endless.closeAllConnections();
      await new Promise((resolve) => endless.close(resolve));
    }
  });

  it('a receiver that answers an error keeps the notification for a retry', async () => {
    let failures = 1;
    const got: string[] = [];
    const { clock, outbox, close } = await webhookOutbox((body, res) => {
      if (failures-- > 0) return void res.writeHead(503).end();
      got.push(body);
      res.writeHead(200).end();
    });
    await eventually(() => clock.pendingTimers() === 1, { what: 'a retry after the 503' });
    expect(got).toEqual([]);
    clock.advance(SECOND);
    await eventually(() => outbox.waiting() === 0, { what: 'the retry to succeed' });
    expect(got).toEqual(['{"n":1}']);
    await close();
  });

  it('a receiver answering 429 or 503 with Retry-After (seconds or a date) is not tried again before it asked; a day is held to an hour', async () => {
    // Each attempt's answer, in turn; then 200. A date is read against the real clock, to the second.
    const answers: Array<() => [number, string]> = [
      () => [429, '30'],
      () => [503, new Date(Date.now() + 90_000).toUTCString()],
      () => [429, String(86_400)],
    ];
    const attempts: number[] = [];
    const { clock, outbox, close } = await webhookOutbox((_body, res) => {
      attempts.push(clock.t);
      const answer = answers.shift()?.();
      if (answer) return void res.writeHead(answer[0], { 'retry-after': answer[1] }).end();
      res.writeHead(200).end();
    });
    // [quiet for, then due within]: the backoff alone would retry after 1 s.
    for (const [quiet, due, what] of [
      [30 * SECOND - 1, 1, 'Retry-After: 30'],
      [88 * SECOND, 3 * SECOND, 'a Retry-After date 90 s on'],
      [3600 * SECOND - 1, 1, 'Retry-After: a day, held to an hour'],
    ] as const) {
      await eventually(() => clock.pendingTimers() === 1, { what: `the retry after ${what}` });
      const before = attempts.length;
      clock.advance(quiet);
      expect(clock.pendingTimers(), `the retry after ${what} still waits`).toBe(1);
      clock.advance(due);
      await eventually(() => attempts.length === before + 1, { what: `the attempt after ${what}` });
    }
    await eventually(() => outbox.waiting() === 0, { what: 'the delivery once the receiver takes it' });
    expect(attempts).toHaveLength(4);
    await close();
  });

  it('Slack and Teams receivers read Retry-After as webhooks do', async () => {
    dir = tempDir('floorwatch-outbox-');
    const port = await freePort();
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => void res.writeHead(429, { 'retry-after': '7' }).end());
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    const row = offlineNoticeRow(T0);
    for (const layout of [slackBlocks, teamsCard]) {
      const target = chatTarget('receiver chat', `http://127.0.0.1:${port}/`, layout, 'Europe/London');
      const err: unknown = await target.deliver([row]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(target.retryAfterMs?.(err)).toBe(7000);
      expect(target.refusedForGood?.(err)).toBe(false);
    }
  });

  it('a notification the receiver refuses for good is set aside after three attempts; the ones after it still arrive, in order', async () => {
    dir = tempDir('floorwatch-outbox-');
    const port = await freePort();
    const got: string[] = [];
    let refusals = 0;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        // A receiver whose schema this one payload breaks: 422, every time.
        if (body.includes('"summary":"\u0000"')) {
          refusals++;
          return void res.writeHead(422).end('{"error":"summary must be printable"}');
        }
        got.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    const clock = new ManualClock(T0);
    const db = new Database(join(dir, 'alerts.sqlite'));
    const target = webhookTarget({ url: `http://127.0.0.1:${port}/`, secret: SECRET });
    const setAside: Array<{ target: string; payload: string; err: string }> = [];
    const outbox = new Outbox({
      db,
      targets: [target],
      log: pino({ level: 'silent' }),
      now: clock.now,
      timers: clock,
      retryFirstMs: SECOND,
      retryMaxMs: SECOND,
      maxWaiting: 10_000,
      setAside: async (name, row, err) =>
        void setAside.push({ target: name, payload: row.payload, err: (err as Error).message }),
    });
    const payloads = ['{"n":1}', '{"n":2,"summary":"\u0000"}', '{"n":3}', '{"n":4}'];
    for (const p of payloads) outbox.enqueue(target.name, p);
    outbox.kick();
    for (let attempt = 1; attempt < 3; attempt++) {
      await eventually(() => clock.pendingTimers() === 1, { what: `a retry after refusal ${attempt}` });
      clock.advance(SECOND);
    }
    await eventually(() => outbox.waiting() === 0, { what: 'the notifications after the refused one' });
    expect(refusals).toBe(3);
    expect(got).toEqual(['{"n":1}', '{"n":3}', '{"n":4}']);
    expect(setAside).toEqual([
      { target: target.name, payload: payloads[1], err: 'the receiver refused the notification (422)' },
    ]);
    await outbox.close();
    db.close();
  });
});
