// One requirement on one device, Prometheus/Grafana style: a limit whose condition holds is
// pending; held for its whole `for` it fires; a firing limit clears only inside the hysteresis
// band; once nothing fires, `keep_firing_for` holds the alert a little longer. Pure.
import { hysteresisAt, type Limit, type Requirement, type Severity } from './requirements.ts';

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

const RANK: Record<Severity, number> = { warning: 1, critical: 2 };

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
export function evaluateThreshold(req: Requirement, state: ThresholdState, values: readonly (number | undefined)[], at: number): ThresholdOutcome {
  // A requirement whose limits changed (config edit) starts its limit states afresh.
  if (state.limits.length !== req.limits.length) Object.assign(state, newThresholdState(req));
  let fire: { l: Limit; v: number } | undefined;
  let pend: { l: Limit; v: number } | undefined;
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
    if (s.active && (!fire || RANK[l.severity] > RANK[fire.l.severity])) fire = { l, v };
    if (s.since !== undefined && (!pend || RANK[l.severity] > RANK[pend.l.severity])) pend = { l, v };
  });

  if (fire) {
    state.firing = fire.l.severity;
    delete state.clearedAt;
    return { state: 'firing', severity: fire.l.severity, limit: fire.l, value: fire.v };
  }
  if (state.firing !== undefined) {
    state.clearedAt ??= at;
    if (at - state.clearedAt < req.keepFiringFor.value) return { state: 'firing', severity: state.firing };
    delete state.firing;
    delete state.clearedAt;
  }
  if (pend) return { state: 'pending', severity: pend.l.severity, limit: pend.l, value: pend.v };
  return { state: 'ok' };
}
