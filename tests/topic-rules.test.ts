import { describe, expect, it } from 'vitest';
import { covers, overlaps, topicRuleVerdict, type TopicRule } from '../hub/security/topic-rules.ts';
import type { Principal } from '../hub/security/acl.ts';

const anonymous: Principal = { kind: 'anonymous' };
const device: Principal = { kind: 'device', id: 't-1' };
const viewer: Principal = { kind: 'integration', name: 'grafana', role: 'viewer' };

describe('topic filters that can name the same topic', () => {
  it.each([
    ['site/#', 'site/a/b', true],
    ['site/#', 'site', true],
    ['site/+', 'site/a', true],
    ['site/+', 'site/a/b', false],
    ['site/a', 'site/+', true],
    ['#', 'site/a', true],
    ['+/a', 'x/a', true],
    ['a/b', 'a/c', false],
    ['#', '$SYS/x', false],
    ['+/x', '$TopicA/x', false],
    ['$TopicA/#', '$TopicA/x', true],
  ])('%s and %s: %s', (a, b, expected) => {
    expect(overlaps(a, b)).toBe(expected);
    expect(overlaps(b, a)).toBe(expected);
  });
});

describe('a topic filter that covers another', () => {
  it.each([
    ['site/#', 'site/a/b', true],
    ['site/#', 'site', true],
    ['site/#', 'site/#', true],
    ['site/#', '#', false],
    ['site/open/#', 'site/#', false],
    ['site/+', 'site/a', true],
    ['site/+', 'site/+', true],
    ['site/a', 'site/+', false],
    ['site/+', 'site/#', false],
    ['+/a', 'x/a', true],
    ['#', 'site/a', true],
    ['#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
  ])('%s covers %s: %s', (filter, inner, expected) => {
    expect(covers(filter, inner)).toBe(expected);
  });
});

describe("a site's topic rules", () => {
  const rules: TopicRule[] = [
    { topic: 'test/nosubscribe', subscribe: 'deny' },
    { topic: 'site/open/#', publish: 'allow', who: 'anonymous' },
    { topic: 'site/#', publish: 'deny', who: 'anonymous' },
    { topic: 'reports/#', subscribe: 'deny', who: 'viewer' },
  ];

  it('lets the first rule that matches topic, client and action decide', () => {
    expect(topicRuleVerdict(rules, device, 'subscribe', 'test/nosubscribe')).toEqual({ index: 0, verdict: 'deny' });
    expect(topicRuleVerdict(rules, anonymous, 'publish', 'site/x')).toEqual({ index: 2, verdict: 'deny' });
    // An earlier allow shields from a later deny.
    expect(topicRuleVerdict(rules, anonymous, 'publish', 'site/open/x')).toEqual({ index: 1, verdict: 'allow' });
    // A rule for one kind of client does not touch another, nor an action it does not name.
    expect(topicRuleVerdict(rules, device, 'publish', 'site/x')).toBeUndefined();
    expect(topicRuleVerdict(rules, anonymous, 'subscribe', 'site/x')).toBeUndefined();
    expect(topicRuleVerdict(rules, viewer, 'subscribe', 'reports/#')).toEqual({ index: 3, verdict: 'deny' });
    // A subscription wider than a rule's topic would receive what the rule keeps out: the first such rule decides.
    expect(topicRuleVerdict(rules, viewer, 'subscribe', 'reports/+/daily')).toEqual({ index: 3, verdict: 'deny' });
    expect(topicRuleVerdict(rules, viewer, 'subscribe', '#')).toEqual({ index: 0, verdict: 'deny' });
  });

  it('lets a narrow allow decide only a subscription it covers whole: a wider one meets the deny after it', () => {
    const site: TopicRule[] = [
      { topic: 'site/open/#', subscribe: 'allow', who: 'anonymous' },
      { topic: 'site/#', subscribe: 'deny', who: 'anonymous' },
    ];
    expect(topicRuleVerdict(site, anonymous, 'subscribe', 'site/open/+')).toEqual({ index: 0, verdict: 'allow' });
    expect(topicRuleVerdict(site, anonymous, 'subscribe', '#')).toEqual({ index: 1, verdict: 'deny' });
    expect(topicRuleVerdict(site, anonymous, 'subscribe', 'site/+/x')).toEqual({ index: 1, verdict: 'deny' });
  });

  it('treats hostile names in topics as plain text', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Lärm', '噪音']) {
      expect(topicRuleVerdict(rules, anonymous, 'publish', `${name}/x`)).toBeUndefined();
      expect(topicRuleVerdict([{ topic: `${name}/#`, publish: 'deny' }], anonymous, 'publish', `${name}/x`)).toEqual({
        index: 0,
        verdict: 'deny',
      });
    }
  });
});
