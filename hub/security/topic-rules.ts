// A site's own topic rules (security.topic_rules), checked before the built-in ACL: the first
// rule whose topic, client kind and action match decides. "deny" refuses (a publish disconnects
// the client, as MQTT 3.1.1 has no negative PUBACK; a subscription gets the failure code 0x80);
// "allow" ends the look through the site's rules (for a subscription, only one its topic covers
// whole), and the built-in ACL still applies, so a site's rule can narrow what the hub allows but
// never widen it. Pure: rules, a principal, a topic.
import { describePrincipal, type Principal } from './acl.ts';
import type { Role } from './tokens.ts';

export type Who = 'anonymous' | 'device' | Role;
export type Verdict = 'allow' | 'deny';

export interface TopicRule {
  /** An MQTT topic filter: "+" one level, "#" the rest. */
  topic: string;
  publish?: Verdict;
  subscribe?: Verdict;
  /** Who the rule is for; every client when absent. */
  who?: Who;
}

function whoMatches(who: Who | undefined, principal: Principal): boolean {
  if (who === undefined) return true;
  if (principal.kind === 'integration') return principal.role === who;
  return principal.kind === who;
}

/** Whether a filter and a topic (or another filter) can name the same topic: level by level, as MQTT matches. */
export function overlaps(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  // [MQTT-4.7.2-1]: a wildcard at the first level never matches a topic that starts with $.
  const dollar = (levels: string[], other: string[]) =>
    (levels[0] ?? '').startsWith('$') && (other[0] === '+' || other[0] === '#');
  if (dollar(x, y) || dollar(y, x)) return false;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#' || q === '#') return true;
    if (p === undefined || q === undefined) return false;
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
  return true;
}

/** Whether every topic `inner` (a topic or a filter) can name, `filter` names too. */
export function covers(filter: string, inner: string): boolean {
  const f = filter.split('/');
  const s = inner.split('/');
  // [MQTT-4.7.2-1]: a wildcard at the first level never matches a topic that starts with $.
  if ((s[0] ?? '').startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < Math.max(f.length, s.length); i++) {
    const p = f[i];
    const q = s[i];
    // "a/#" names "a" too.
    if (p === '#') return true;
    if (p === undefined || q === undefined || q === '#') return false;
    if (p !== '+' && (q === '+' || p !== q)) return false;
  }
  return true;
}

/**
 * The site rule that decides this action, with its place in the list; undefined when none does.
 * A deny decides for a subscription that could receive one of its topics; an allow only for one
 * that can receive nothing else, or a narrow allow would let a wide subscription past a later deny.
 */
export function topicRuleVerdict(
  rules: readonly TopicRule[],
  principal: Principal,
  action: 'publish' | 'subscribe',
  topic: string,
): { index: number; verdict: Verdict } | undefined {
  for (const [index, rule] of rules.entries()) {
    const verdict = rule[action];
    if (verdict === undefined || !whoMatches(rule.who, principal)) continue;
    if (!(verdict === 'allow' ? covers(rule.topic, topic) : overlaps(rule.topic, topic))) continue;
    return { index, verdict };
  }
  return undefined;
}

/** The refusal a site rule gives, naming the rule; undefined when the rules allow or say nothing. */
export function topicRuleProblem(
  rules: readonly TopicRule[] | undefined,
  principal: Principal,
  action: 'publish' | 'subscribe',
  topic: string,
): string | undefined {
  const rule = topicRuleVerdict(rules ?? [], principal, action, topic);
  if (rule?.verdict !== 'deny') return undefined;
  const what = action === 'publish' ? 'publishing to' : 'subscribing to';
  return `security.topic_rules[${rule.index}] denies ${what} "${topic.slice(0, 200)}" for ${describePrincipal(principal)}`;
}
