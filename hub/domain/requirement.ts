// What an environment requirement is: limits on a metric, each number with its source, how far
// back a firing limit clears, and what a site may override. The defaults and their sources are the
// rules' (rules/requirements.ts).

export type Severity = 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['warning', 'critical'];

/** What a limit is compared with: the latest value, or an aggregate over a window ending at it. */
export type Aggregation =
  | { kind: 'last' }
  | { kind: 'mean' | 'laeq' | 'max' | 'rise'; windowMs: number }
  /** Projected daily exposure LEX,8h of the current shift (noise per position). */
  | { kind: 'lex8h' };

/** A number and where it comes from; `judgement` marks engineering judgement, not a standard. */
export interface Sourced {
  value: number;
  source: string;
  judgement?: true;
}

export interface Limit {
  severity: Severity;
  /** above: alert when the value is greater than the threshold (or equal, when inclusive). */
  when: 'above' | 'below';
  inclusive: boolean;
  threshold: Sourced;
  over: Aggregation;
  /** How long the condition must hold before the alert fires (pending until then). */
  for: Sourced;
}

/** When a requirement is judged: while the zone is occupied (its opening hours), while it is not, or always. */
export type Applies = 'occupied' | 'unoccupied' | 'always';
export const APPLIES: readonly Applies[] = ['occupied', 'unoccupied', 'always'];

export interface Requirement {
  key: RequirementKey;
  metric: string;
  title: string;
  unit: string;
  limits: Limit[];
  /** A firing limit clears only this far back inside the band (a percentage of it when `percent`). */
  hysteresis: Sourced & { percent?: true };
  /** A cleared condition keeps the alert firing this long, in case it comes straight back. */
  keepFiringFor: Sourced;
  applies: Applies;
}

export const REQUIREMENT_KEYS = [
  'temperature',
  'temperature_setback',
  'humidity',
  'co2',
  'fresh_air',
  'air_speed',
  'noise',
  'noise_exposure',
  'noise_peak',
  'dew_point',
  'temperature_rise',
] as const;
export type RequirementKey = (typeof REQUIREMENT_KEYS)[number];

export interface RuleOverride {
  enabled?: boolean;
  warning?: { above?: number | undefined; below?: number | undefined } | undefined;
  critical?: { above?: number | undefined; below?: number | undefined } | undefined;
  /** ms */
  forMs?: number | undefined;
  hysteresis?: number | undefined;
  /** ms */
  keepFiringForMs?: number | undefined;
  applies?: Applies | undefined;
}

export type RuleOverrides = Partial<Record<RequirementKey, RuleOverride>>;
