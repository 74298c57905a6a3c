import { describe, expect, it } from 'vitest';
import { SubscriptionBound } from '../hub/broker/subscriptions.ts';

describe('SubscriptionBound', () => {
  it("counts a client's topics once each from its first, refuses past either bound, and releases them as it leaves", () => {
    const limits = { maxSubscriptionsPerClient: 3, maxSubscriptions: 10 };
    const bound = new SubscriptionBound(limits);
    const client = {};
    expect(bound.counts(client)).toBe(false);
    for (const topic of ['constructor', '__proto__', 'floorwatch/alerts/#'])
      expect(bound.admit(client, topic)).toBe('ok');
    // One it holds already is no more.
    expect(bound.admit(client, '__proto__')).toBe('ok');
    expect(bound.size).toBe(3);
    expect(bound.counts(client)).toBe(true);
    expect(bound.admit(client, 'floorwatch/devices/+/status')).toBe('client_full');
    // A bound lowered by a reload applies to the next subscription.
    limits.maxSubscriptions = 3;
    expect(bound.admit({}, 'floorwatch/hub/status')).toBe('all_full');
    bound.release(client, ['constructor', 'not held']);
    expect(bound.size).toBe(2);
    expect(bound.holds(client, 'constructor')).toBe(false);
    expect(bound.holds(client, '__proto__')).toBe(true);
    bound.forget(client);
    expect(bound.size).toBe(0);
  });
});
