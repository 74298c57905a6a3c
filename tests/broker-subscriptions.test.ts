import { describe, expect, it } from 'vitest';
import { SubscriptionBound } from '../hub/broker/subscriptions.ts';

describe('SubscriptionBound', () => {
  it("counts a persistent session's restored topics from its first subscription, and releases them as it leaves", () => {
    const limits = { maxSubscriptionsPerClient: 3, maxSubscriptions: 10 };
    const bound = new SubscriptionBound(limits);
    const restored = { subscriptions: { 'floorwatch/alerts/#': {}, 'floorwatch/zones/+/state': {} } };
    expect(bound.admit(restored, 'floorwatch/hub/status')).toBe('ok');
    expect(bound.size).toBe(3);
    expect(bound.admit(restored, 'floorwatch/devices/+/status')).toBe('client_full');
    // A bound lowered by a reload applies to the next subscription.
    limits.maxSubscriptions = 3;
    expect(bound.admit({ subscriptions: {} }, 'floorwatch/hub/status')).toBe('all_full');
    bound.release(restored, ['floorwatch/alerts/#', 'not held']);
    expect(bound.size).toBe(2);
    bound.forget(restored);
    expect(bound.size).toBe(0);
  });
});
