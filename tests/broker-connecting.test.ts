import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Connecting } from '../hub/broker/connecting.ts';

describe('Connecting', () => {
  it('counts the sockets of one IPv6 /64 together until each sends CONNECT or closes', async () => {
    const limits = { maxConnectingPerAddress: 2 };
    const connecting = new Connecting(limits);
    const [a, b, c, d] = [0, 1, 2, 3].map(() => new PassThrough());
    expect(connecting.open(a!, '2001:db8:1:2::1')).toBe(true);
    expect(connecting.open(b!, '2001:db8:1:2::ffff')).toBe(true);
    expect(connecting.open(c!, '2001:db8:1:2::3')).toBe(false);
    expect(connecting.open(c!, '192.0.2.7')).toBe(true);
    connecting.connected(a!);
    // Sent CONNECT, then closed: released once only.
    a!.destroy();
    expect(connecting.open(d!, '2001:db8:1:2::4')).toBe(true);
    expect(connecting.open(new PassThrough(), '2001:db8:1:2::5')).toBe(false);
    const closed = [b!, c!, d!].map((s) => once(s, 'close'));
    for (const s of [b!, c!, d!]) s.destroy();
    await Promise.all(closed);
    expect(connecting.sources).toBe(0);
  });
});
