// Whether a zone's reading was within a requirement: no limit crossed, each limit judged by the
// rule book's own judgement (`breach`) on what the alert rule compares — the value itself, or the
// mean / LAeq / maximum of the (epoch-aligned) window the reading falls in. Pure.
import { breach, zoneWide } from '../rules/rulebook.ts';
import type { SeriesPoint } from '../store/store.ts';
import type { Limit, Requirement } from '../domain/requirement.ts';

export interface WindowAggregate {
  kind: 'mean' | 'laeq' | 'max';
  windowMs: number;
}

/** Whether a requirement has a limit a zone's readings can be judged on (not only exposure or a rate of rise). */
export function isBand(req: Requirement): boolean {
  return req.limits.some(zoneWide);
}

export const windowKey = (w: WindowAggregate): string => `${w.kind}/${w.windowMs}`;

/** The windowed series the requirement's limits compare with. */
export function windowsOf(req: Requirement): WindowAggregate[] {
  const out = new Map<string, WindowAggregate>();
  for (const l of req.limits) {
    if (zoneWide(l) && l.over.kind !== 'last') {
      const w = { kind: l.over.kind, windowMs: l.over.windowMs };
      out.set(windowKey(w), w);
    }
  }
  return [...out.values()];
}

/**
 * Whether a reading is within the requirement; `windows` holds, per windowKey, the series
 * aggregated by window start.
 */
export function withinJudge(
  req: Requirement,
  windows: ReadonlyMap<string, readonly SeriesPoint[]>,
): (p: SeriesPoint) => boolean {
  const byStart = new Map([...windows].map(([key, points]) => [key, new Map(points.map((p) => [p.ts, p.value]))]));
  /** What a limit compares for one reading; nothing for a window without a value, or a limit judged per device only. */
  const valueAt = (l: Limit, p: SeriesPoint): number | undefined => {
    if (!zoneWide(l)) return undefined;
    const over = l.over;
    if (over.kind === 'last') return p.value;
    const start = p.ts - (((p.ts % over.windowMs) + over.windowMs) % over.windowMs);
    return byStart.get(windowKey({ kind: over.kind, windowMs: over.windowMs }))?.get(start);
  };
  return (p) => breach(req, (l) => valueAt(l, p)) === undefined;
}
