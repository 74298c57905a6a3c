// Threshold bands of a panel, read from the same effective requirements the alert rules evaluate,
// so the colours on a dashboard and the alerts of the hub always agree.
import { ThresholdsConfigBuilder, ThresholdsMode, type Threshold } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Aggregation, Limit, Requirement, Severity } from '../hub/domain/requirement.ts';

/** Units as a facilities engineer writes them. */
const SHOWN_UNIT: Record<string, string> = { Cel: '°C', 'm3/h/person': 'm³/h per person' };

const COLOUR: Record<Severity | 'ok', string> = { ok: 'green', warning: 'orange', critical: 'red' };

function breaches(l: Limit, value: number): boolean {
  return l.when === 'above' ? value > l.threshold.value : value < l.threshold.value;
}

/** Steps from the lowest band up: each band coloured by the worst limit a value inside it breaks. */
export function thresholdSteps(limits: readonly Limit[]): Threshold[] {
  const bounds = [...new Set(limits.map((l) => l.threshold.value))].sort((a, b) => a - b);
  const worst = (value: number): Severity | 'ok' => {
    const broken = limits.filter((l) => breaches(l, value));
    if (broken.some((l) => l.severity === 'critical')) return 'critical';
    return broken.length > 0 ? 'warning' : 'ok';
  };
  const first = bounds[0];
  if (first === undefined) return [{ value: null, color: COLOUR.ok }];
  const steps: Threshold[] = [{ value: null, color: COLOUR[worst(first - 1)] }];
  bounds.forEach((bound, i) => {
    const next = bounds[i + 1];
    // A band is judged at its middle; the last one just above its bound.
    const colour = COLOUR[worst(next === undefined ? bound + 1 : (bound + next) / 2)];
    if (steps.at(-1)?.color !== colour) steps.push({ value: bound, color: colour });
  });
  return steps;
}

export function thresholds(limits: readonly Limit[]): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(thresholdSteps(limits));
}

function duration(ms: number): string {
  if (ms === 0) return 'at once';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

function over(a: Aggregation): string {
  switch (a.kind) {
    case 'last':
      return 'the latest value';
    case 'lex8h':
      return 'LEX,8h projected over the shift';
    case 'rise':
      return `the rise over ${duration(a.windowMs)}`;
    case 'laeq':
      return `LAeq over ${duration(a.windowMs)}`;
    default:
      return `the ${a.kind} over ${duration(a.windowMs)}`;
  }
}

/** What the bands mean, each number with its source: the panel's description. */
export function describeLimits(req: Requirement): string {
  const unit = SHOWN_UNIT[req.unit] ?? req.unit;
  if (req.limits.length === 0) return `${req.title}: no limits set.`;
  const lines = req.limits.map((l) => {
    const held = l.for.value > 0 ? `, held ${duration(l.for.value)}` : '';
    return `- ${l.severity} ${l.when} ${l.threshold.value} ${unit} (${over(l.over)}${held}) — ${l.threshold.source}`;
  });
  return `Bands from the alert rules (${req.title}):\n${lines.join('\n')}`;
}
