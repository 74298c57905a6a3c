// A mail server that answers a line at a time and never finishes (its idle timeouts never fire)
// must not hold its receiver for ever: the message is given up after the send deadline, its
// connection closed, and the delivery fails so the outbox retries and reports the receiver failing.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { emailTarget } from '../hub/notify/email.ts';
import { offlineNoticeRow } from './support/receiver.ts';
import { T0 } from './rules-fixtures.ts';

describe('an email receiver whose server trickles', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  });

  it('gives the message up at the deadline and closes its connection', async () => {
    const closed = new Promise<void>((resolveClosed) => {
      server = createServer((socket: Socket) => {
        socket.write('220 slow.example ESMTP\r\n');
        let timer: NodeJS.Timeout | undefined;
        // Every line of the reply to EHLO but the last, one every 20 ms, for as long as the client listens.
        socket.once('data', () => {
          timer = setInterval(() => socket.write('250-still thinking\r\n'), 20);
        });
        socket.on('close', () => {
          clearInterval(timer);
          resolveClosed();
        });
        socket.on('error', () => undefined);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const address = server!.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const target = emailTarget(
      'receiver facilities',
      {
        to: ['facilities@example.com'],
        from: 'floorwatch@example.com',
        smtp: `smtp://127.0.0.1:${port}`,
        require_tls: false,
      },
      'UTC',
      undefined,
      300,
    );
    const err: unknown = await target.deliver([offlineNoticeRow(T0)]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe(
      `could not send mail through 127.0.0.1:${port}: the mail server had not taken the message after 0.3 s`,
    );
    expect(target.refusedForGood?.(err)).toBe(false);
    await closed;
  });
});
