// The API's rate limit per address: an IPv6 host counted by its /64, as it may take any address
// of it, and the windows kept bounded however many addresses ask. Requests through app.inject.
import { afterEach, describe, expect, it } from 'vitest';
import { REQUEST_RATE_KEYS, RequestRate } from '../hub/security/rate.ts';
import { memoryApi, type MemoryApi } from './support/api.ts';
import { T0 } from './rules-fixtures.ts';

describe("the API's rate limit", () => {
  let api: MemoryApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('counts the addresses of one IPv6 /64 together, and other networks apart', async () => {
    api = await memoryApi({ requestsPerMinute: 3 });
    // Once a token exists, the hub is no longer open, and addresses are rate-limited.
    api.security.tokens.create('look', 'viewer', T0);
    const app = api.app;
    const ask = async (remoteAddress: string) =>
      (await app.inject({ url: '/api/v1/health', remoteAddress })).statusCode;
    const oneHost = ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3', '2001:db8:1:2::4'];
    const statuses: number[] = [];
    for (const address of oneHost) statuses.push(await ask(address));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await ask('2001:db8:1:3::1')).toBe(200);
    expect(await ask('192.0.2.1')).toBe(200);
  });

  it('keeps a window for at most REQUEST_RATE_KEYS keys, forgetting the oldest, and says so', () => {
    let full = 0;
    const rate = new RequestRate(
      2,
      () => T0,
      () => full++,
    );
    for (let i = 0; i <= REQUEST_RATE_KEYS; i++) rate.take(`key-${i}`);
    expect(rate.size).toBe(REQUEST_RATE_KEYS);
    expect(full).toBe(1);
    // The newest is still counted: its third request within the minute is over the limit.
    const newest = `key-${REQUEST_RATE_KEYS}`;
    expect([rate.take(newest), rate.take(newest)]).toEqual([0, 60]);
  });
});
