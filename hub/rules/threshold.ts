// One requirement on one device, Prometheus/Grafana style: a limit whose condition holds is
// pending; held for its whole `for` it fires; a firing limit clears only inside the hysteresis
// band; once nothing fires, `keep_firing_for` holds the alert a little longer. Pure.
import { hysteresisAt } from './requirements.ts';
import type { Limit, Requirement, Severity } from '../domain/requirement.ts';

export interface LimitState {
  /** Event time since which the condition has held without firing yet. */
  since?: number;
  active: boolean;
}

export interface ThresholdState {
  limits: LimitState[];
  /** Severity the alert fires at; absent while it does not fire. */
  firing?: Severity;
  /** When the last firing limit cleared, while keep_firing_for holds the alert. */
  clearedAt?: number;
  /** The aggregate each limit saw last, for evaluations between readings. */
  values: (number | undefined)[];
}

export interface ThresholdOutcome {
  state: 'ok' | 'pending' | 'firing';
  severity?: Severity;
  /** The limit that decides the outcome, and the value it was compared with. */
  limit?: Limit;
  value?: number;
}

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { warning: 1, critical: 2 };

/** The most severe of some limits, the first in the requirement's order among equals. */
export function worst<T extends { limit: Limit }>(list: readonly T[]): T | undefined {
  let out: T | undefined;
  for (const x of list) if (!out || SEVERITY_RANK[x.limit.severity] > SEVERITY_RANK[out.limit.severity]) out = x;
  return out;
}

export function newThresholdState(req: Requirement): ThresholdState {
  return { limits: req.limits.map(() => ({ active: false })), values: req.limits.map(() => undefined) };
}

/** Whether a value is past a limit, before any `for` or hysteresis. */
export function exceeds(l: Limit, v: number): boolean {
  const t = l.threshold.value;
  if (l.when === 'above') return l.inclusive ? v >= t : v > t;
  return l.inclusive ? v <= t : v < t;
}

/** Inside the band by at least the hysteresis: only then does a firing limit clear. */
function cleared(req: Requirement, l: Limit, v: number): boolean {
  const h = hysteresisAt(req, l);
  return !exceeds(l, l.when === 'above' ? v + h : v - h);
}

/** Evaluates at event time `at` with one aggregate per limit (undefined: no data, keep the state). */
export function evaluateThreshold(
  req: Requirement,
  state: ThresholdState,
  values: readonly (number | undefined)[],
  at: number,
): ThresholdOutcome {
  // A requirement whose limits changed (config edit) starts its limit states afresh.
  if (state.limits.length !== req.limits.length) Object.assign(state, newThresholdState(req));
  const firing: { limit: Limit; value: number }[] = [];
  const pending: { limit: Limit; value: number }[] = [];
  req.limits.forEach((l, i) => {
    const s = state.limits[i]!;
    // `?? undefined`: a value missing before a restart comes back from JSON as null.
    const v = values[i] ?? state.values[i] ?? undefined;
    state.values[i] = v;
    if (v === undefined) return;
    if (s.active) {
      if (cleared(req, l, v)) {
        s.active = false;
        delete s.since;
      }
    } else if (exceeds(l, v)) {
      s.since ??= at;
      if (at - s.since >= l.for.value) {
        s.active = true;
        delete s.since;
      }
    } else {
      delete s.since;
    }
    if (s.active) firing.push({ limit: l, value: v });
    if (s.since !== undefined) pending.push({ limit: l, value: v });
  });

  const fire = worst(firing);
  if (fire) {
    state.firing = fire.limit.severity;
    delete state.clearedAt;
    return { state: 'firing', severity: fire.limit.severity, limit: fire.limit, value: fire.value };
  }
  if (state.firing !== undefined) {
    state.clearedAt ??= at;
    if (at - state.clearedAt < req.keepFiringFor.value) return { state: 'firing', severity: state.firing };
    delete state.firing;
    delete state.clearedAt;
  }
  const pend = worst(pending);
  if (pend) return { state: 'pending', severity: pend.limit.severity, limit: pend.limit, value: pend.value };
  return { state: 'ok' };
}
