// How much of a span a zone spent within a requirement: the share of its readings at which no
// limit was crossed, each limit judged on what the alert rule compares — the value itself, or the
// mean / LAeq / maximum of the (epoch-aligned) window the reading falls in. Pure.
import type { Limit, Requirement } from '../rules/requirements.ts';
import type { SeriesPoint } from '../store/store.ts';
import { exceeds } from '../rules/threshold.ts';

export interface WindowAggregate {
  kind: 'mean' | 'laeq' | 'max';
  windowMs: number;
}

/** Projected exposure (reported per position) and rates of rise (an alarm, not a band) are not time-in-band figures. */
function judged(l: Limit): boolean {
  return l.over.kind === 'last' || l.over.kind === 'mean' || l.over.kind === 'laeq' || l.over.kind === 'max';
}

export function isBand(req: Requirement): boolean {
  return req.limits.some(judged);
}

export const windowKey = (w: WindowAggregate): string => `${w.kind}/${w.windowMs}`;

/** The windowed series the requirement's limits compare with. */
export function windowsOf(req: Requirement): WindowAggregate[] {
  const out = new Map<string, WindowAggregate>();
  for (const l of req.limits) {
    if (l.over.kind === 'mean' || l.over.kind === 'laeq' || l.over.kind === 'max') {
      const w = { kind: l.over.kind, windowMs: l.over.windowMs };
      out.set(windowKey(w), w);
    }
  }
  return [...out.values()];
}

/**
 * Percent of `raw` readings within the requirement; `windows` holds, per windowKey, the series
 * aggregated by window start. Undefined when there are no readings.
 */
export function percentWithin(req: Requirement, raw: readonly SeriesPoint[], windows: ReadonlyMap<string, readonly SeriesPoint[]>): number | undefined {
  if (raw.length === 0) return undefined;
  const byStart = new Map([...windows].map(([key, points]) => [key, new Map(points.map((p) => [p.ts, p.value]))]));
  const limits = req.limits.filter(judged);
  let within = 0;
  for (const p of raw) {
    const ok = limits.every((l) => {
      const over = l.over;
      if (over.kind === 'last') return !exceeds(l, p.value);
      if (over.kind !== 'mean' && over.kind !== 'laeq' && over.kind !== 'max') return true;
      const start = p.ts - (((p.ts % over.windowMs) + over.windowMs) % over.windowMs);
      const value = byStart.get(windowKey({ kind: over.kind, windowMs: over.windowMs }))?.get(start);
      return value === undefined || !exceeds(l, value);
    });
    if (ok) within += 1;
  }
  return (100 * within) / raw.length;
}
