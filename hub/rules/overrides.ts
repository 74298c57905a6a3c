// A zone's effective requirements: the defaults for its type and season with the site's and the
// zone's own overrides applied, each changed number naming where it was changed. Checked, so a
// site cannot configure a warning beyond its critical limit. Pure.
import {
  SEVERITIES,
  type Requirement,
  type RuleOverride,
  type RuleOverrides,
  type Severity,
  type Sourced,
} from '../domain/requirement.ts';
import type { Season, ZoneType } from '../domain/zone.ts';
import { defaultRequirements, NONE } from './requirements.ts';

function overridden(value: number, where: string): Sourced {
  return { value, source: `override in ${where}` };
}

function applyOverride(req: Requirement, o: RuleOverride, where: string): Requirement | undefined {
  if (o.enabled === false) return undefined;
  const limits = req.limits.map((l) => ({ ...l }));
  for (const severity of SEVERITIES) {
    for (const when of ['above', 'below'] as const) {
      const value = o[severity]?.[when];
      if (value === undefined) continue;
      const at = `${where}.${severity}.${when}`;
      const existing = limits.find((l) => l.severity === severity && l.when === when);
      if (existing) {
        existing.threshold = overridden(value, at);
      } else {
        // A new bound compares the same aggregate as the requirement's other limits of that severity.
        const like = limits.find((l) => l.severity === severity) ?? limits[0];
        limits.push({
          severity,
          when,
          inclusive: like?.inclusive ?? false,
          threshold: overridden(value, at),
          over: like?.over ?? { kind: 'last' },
          for: like?.for ?? NONE,
        });
      }
    }
  }
  if (o.forMs !== undefined) for (const l of limits) l.for = overridden(o.forMs, `${where}.for`);
  return {
    ...req,
    limits,
    ...(o.hysteresis !== undefined && { hysteresis: overridden(o.hysteresis, `${where}.hysteresis`) }),
    ...(o.keepFiringForMs !== undefined && {
      keepFiringFor: overridden(o.keepFiringForMs, `${where}.keep_firing_for`),
    }),
    ...(o.applies !== undefined && { applies: o.applies }),
  };
}

export interface ZoneRulesInput {
  zone: string;
  type: ZoneType;
  season: Season;
  site?: RuleOverrides;
  zoneOverrides?: RuleOverrides;
}

/** The effective requirements of one zone: defaults, then site overrides, then the zone's own. */
export function effectiveRequirements(input: ZoneRulesInput): Requirement[] {
  const out: Requirement[] = [];
  for (const base of defaultRequirements(input.type, input.season)) {
    let req: Requirement | undefined = base;
    const site = input.site?.[base.key];
    if (site) req = applyOverride(req, site, `rules.overrides.${base.key}`);
    const own = input.zoneOverrides?.[base.key];
    if (req && own) req = applyOverride(req, own, `zones[${input.zone}].rules.${base.key}`);
    if (req) out.push(req);
  }
  return out;
}

/** Checks a requirement is self-consistent; the engine refuses to start on a problem. */
export function requirementProblem(req: Requirement): string | undefined {
  const bound = (severity: Severity, when: 'above' | 'below') =>
    req.limits.find((l) => l.severity === severity && l.when === when)?.threshold.value;
  const wa = bound('warning', 'above');
  const ca = bound('critical', 'above');
  const wb = bound('warning', 'below');
  const cb = bound('critical', 'below');
  if (wa !== undefined && ca !== undefined && ca < wa)
    return `${req.key}: critical above ${ca} is below warning above ${wa}`;
  if (wb !== undefined && cb !== undefined && cb > wb)
    return `${req.key}: critical below ${cb} is above warning below ${wb}`;
  if (wa !== undefined && wb !== undefined && wb >= wa)
    return `${req.key}: warning below ${wb} is not under warning above ${wa}`;
  return undefined;
}

/** Liveness, staleness, flapping and the hub's own health: the rules that are not thresholds. */
