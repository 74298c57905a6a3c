// The route tree: which receivers hear of an alert, in which group, and how often they are reminded
// of it. Walked as Alertmanager walks its routes: among siblings the first that matches wins unless
// it says `continue`; a matching route with children hands the alert to the first child that
// matches, and keeps it when none does; children inherit their parent's receiver, grouping and
// repeat interval. Pure: built once from the configuration.
import { ms } from '../config/duration.ts';
import type { GROUP_FIELDS, NotifyConfig, RouteConfig } from '../config/notify.ts';
import { alertKind, type Alert } from '../domain/alert.ts';

type GroupField = (typeof GROUP_FIELDS)[number];

/** Where a notice about one alert goes. */
export interface Destination {
  receiver: string;
  /** The route's place in the tree ("0", "1.2"), or "default". */
  route: string;
  /** The notice's group: alerts with the same group go out together. */
  group: string;
  groupWaitMs: number;
  groupIntervalMs: number;
  /** A firing, unacknowledged alert is notified again this often through this route. */
  repeatMs?: number;
}

interface Settings {
  receiver?: string;
  groupBy: readonly GroupField[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatMs?: number;
}

function values(v: string | readonly string[] | undefined): readonly string[] | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? [v] : v;
}

function fieldOf(a: Alert, field: GroupField): string {
  switch (field) {
    case 'zone':
      return a.zone;
    case 'kind':
      return alertKind(a);
    case 'rule':
      return a.rule;
    case 'severity':
      return a.severity;
    case 'device':
      return a.subject;
    case 'key':
      return a.key;
  }
}

function matches(route: RouteConfig, a: Alert): boolean {
  const m = route.match;
  const any = (wanted: string | readonly string[] | undefined, actual: string) =>
    values(wanted)?.includes(actual) ?? true;
  const rules = values(m.rule);
  return (
    any(m.severity, a.severity) &&
    any(m.zone, a.zone) &&
    any(m.kind, alertKind(a)) &&
    any(m.key, a.key) &&
    any(m.device, a.subject) &&
    (rules === undefined || rules.some((r) => a.rule === r || a.rule.startsWith(`${r}.`)))
  );
}

export class Routes {
  private readonly base: Settings;

  constructor(private readonly notify: NotifyConfig) {
    this.base = {
      groupBy: notify.group_by,
      groupWaitMs: ms(notify.group_wait),
      groupIntervalMs: ms(notify.group_interval),
    };
  }

  /** Whether any route reminds of alerts it has notified. */
  get reminds(): boolean {
    const any = (routes: readonly RouteConfig[]): boolean =>
      routes.some((r) => r.repeat_interval !== undefined || any(r.routes));
    return any(this.notify.routes);
  }

  /** The routes that remind of `a`, and how often. */
  reminders(a: Alert): { route: string; everyMs: number }[] {
    return this.destinations(a).flatMap((d) =>
      d.repeatMs === undefined ? [] : [{ route: d.route, everyMs: d.repeatMs }],
    );
  }

  /** Whether any receiver is routed (without routes, every receiver hears of every alert). */
  get routed(): boolean {
    return this.notify.routes.length > 0;
  }

  /** The receivers of a notice about `a`, each once (the first route that reaches it decides). */
  destinations(a: Alert): Destination[] {
    const found: Destination[] = [];
    if (!this.routed) {
      for (const r of this.notify.receivers) found.push(this.destination(a, 'all', { ...this.base, receiver: r.name }));
      return found;
    }
    this.walk(this.notify.routes, a, this.base, '', found);
    if (found.length === 0 && this.notify.default_receiver !== undefined)
      found.push(this.destination(a, 'default', { ...this.base, receiver: this.notify.default_receiver }));
    const seen = new Set<string>();
    return found.filter((d) => !seen.has(d.receiver) && seen.add(d.receiver));
  }

  private walk(routes: readonly RouteConfig[], a: Alert, parent: Settings, path: string, found: Destination[]): void {
    for (const [i, route] of routes.entries()) {
      if (!matches(route, a)) continue;
      const here = `${path}${i}`;
      const settings: Settings = {
        groupBy: route.group_by ?? parent.groupBy,
        groupWaitMs: route.group_wait !== undefined ? ms(route.group_wait) : parent.groupWaitMs,
        groupIntervalMs: route.group_interval !== undefined ? ms(route.group_interval) : parent.groupIntervalMs,
      };
      const receiver = route.receiver ?? parent.receiver;
      if (receiver !== undefined) settings.receiver = receiver;
      const repeatMs = route.repeat_interval !== undefined ? ms(route.repeat_interval) : parent.repeatMs;
      if (repeatMs !== undefined) settings.repeatMs = repeatMs;
      const before = found.length;
      this.walk(route.routes, a, settings, `${here}.`, found);
      if (found.length === before && settings.receiver !== undefined) found.push(this.destination(a, here, settings));
      if (!route.continue) return;
    }
  }

  private destination(a: Alert, route: string, s: Settings): Destination {
    const group = [`route=${route}`, ...s.groupBy.map((f) => `${f}=${fieldOf(a, f)}`)].join(' ');
    return {
      receiver: s.receiver ?? '',
      route,
      group,
      groupWaitMs: s.groupWaitMs,
      groupIntervalMs: s.groupIntervalMs,
      ...(s.repeatMs !== undefined && { repeatMs: s.repeatMs }),
    };
  }
}
