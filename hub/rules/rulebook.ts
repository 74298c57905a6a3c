// The site's rules, built once at start: every zone's effective requirements in every season
// (defaults for the zone's type, then the site's overrides, then the zone's own), looked up by
// zone and time; and the one judgement of values against a requirement's limits that the floor
// page's zones and the shift report share with the alerts. Pure.
//
// Every answer is computed and checked in the constructor, so a lookup never builds anything: zone
// ids and metric names from outside cannot grow it. A zone the configuration does not name gets
// the requirements of devices not in a zone. The requirements are frozen: the rule engine, the API
// and the reports read the very same objects, and none of them can change another's.
import { ConfigError } from '../config/config.ts';
import { effectiveRequirements, requirementProblem } from './overrides.ts';
import { calendarSeason } from './requirements.ts';
import { Schedule, type Occupancy } from './schedule.ts';
import { exceeds, worst } from './threshold.ts';
import { SEASONS, type Season, type ZoneType } from '../domain/zone.ts';
import type { Limit, Requirement, RuleOverrides } from '../domain/requirement.ts';

export interface ZoneSpec {
  type: ZoneType;
  name?: string;
  overrides?: RuleOverrides;
  /** Its opening hours; without, the site's. */
  schedule?: Schedule;
}

export interface RuleBookSpec {
  /** Configured zones, in the configuration's order. */
  zones: ReadonlyMap<string, ZoneSpec>;
  site: RuleOverrides;
  season: Season | 'calendar';
  /** The site's opening hours; without, every zone is always occupied. */
  schedule?: Schedule;
}

export interface ZoneEntry {
  zone: string;
  name?: string;
  type: ZoneType;
}

interface Rules {
  all: readonly Requirement[];
  byMetric: ReadonlyMap<string, readonly Requirement[]>;
}

/** The zone type of devices not in a zone, and of zones the configuration does not name. */
export const UNZONED_TYPE: ZoneType = 'call_floor';
const NONE: readonly Requirement[] = Object.freeze([]);
const ALWAYS_OPEN = new Schedule({ holidays: new Set(), timeZone: 'UTC', warmUpMs: 0 });

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function rules(list: Requirement[]): Rules {
  const all = deepFreeze(list);
  const byMetric = new Map<string, readonly Requirement[]>();
  for (const metric of new Set(all.map((req) => req.metric)))
    byMetric.set(metric, Object.freeze(all.filter((req) => req.metric === metric)));
  return { all, byMetric };
}

export class RuleBook {
  /** How the season is chosen: set in the configuration, or from the calendar. */
  readonly seasonFrom: 'config' | 'calendar';
  private readonly fixedSeason: Season | undefined;
  private readonly configured: ReadonlyMap<string, ReadonlyMap<Season, Rules>>;
  private readonly unzoned: ReadonlyMap<Season, Rules>;
  private readonly entries: readonly ZoneEntry[];
  private readonly schedules: ReadonlyMap<string, Schedule>;
  private readonly siteSchedule: Schedule;

  /** Refuses, with every problem named, overrides that contradict each other in any zone and season. */
  constructor(spec: RuleBookSpec) {
    this.seasonFrom = spec.season === 'calendar' ? 'calendar' : 'config';
    this.fixedSeason = spec.season === 'calendar' ? undefined : spec.season;
    const problems = new Set<string>();
    const build = (
      zone: string,
      type: ZoneType,
      zoneOverrides: RuleOverrides | undefined,
    ): ReadonlyMap<Season, Rules> =>
      new Map(
        SEASONS.map((season) => {
          const list = effectiveRequirements({
            zone,
            type,
            season,
            site: spec.site,
            ...(zoneOverrides && { zoneOverrides }),
          });
          for (const req of list) {
            const problem = requirementProblem(req);
            if (problem) problems.add(`rules for zone ${zone} (${season}): ${problem}`);
          }
          return [season, rules(list)];
        }),
      );
    const configured = new Map<string, ReadonlyMap<Season, Rules>>();
    for (const [zone, z] of spec.zones) configured.set(zone, build(zone, z.type, z.overrides ?? {}));
    this.configured = configured;
    this.unzoned = build('unassigned', UNZONED_TYPE, {});
    this.siteSchedule = spec.schedule ?? ALWAYS_OPEN;
    this.schedules = new Map([...spec.zones].map(([zone, z]) => [zone, z.schedule ?? this.siteSchedule]));
    if (problems.size > 0) throw new ConfigError([...problems]);
    this.entries = Object.freeze(
      [...spec.zones].map(([zone, z]) =>
        Object.freeze({ zone, ...(z.name !== undefined && { name: z.name }), type: z.type }),
      ),
    );
  }

  /** The season in force at a time. */
  season(at: number): Season {
    return this.fixedSeason ?? calendarSeason(at);
  }

  /** The configured zones, in the configuration's order. */
  zones(): readonly ZoneEntry[] {
    return this.entries;
  }

  /** A zone's effective requirements at a time ('' for devices not in a zone). */
  forZone(zone: string, at: number): readonly Requirement[] {
    return this.rules(zone, at).all;
  }

  /** The requirements of a zone at a time that watch one metric. */
  forMetric(zone: string, metric: string, at: number): readonly Requirement[] {
    return this.rules(zone, at).byMetric.get(metric) ?? NONE;
  }

  /** Whether a zone is open at a time ('' and zones not configured follow the site's hours). */
  occupancy(zone: string, at: number): Occupancy {
    return (this.schedules.get(zone) ?? this.siteSchedule).occupancy(at);
  }

  /** Whether a requirement of a zone is judged at a time: in force, by its `applies` and the zone's hours. */
  judges(zone: string, req: Requirement, at: number): boolean {
    return (this.schedules.get(zone) ?? this.siteSchedule).judges(req.applies, at);
  }

  private rules(zone: string, at: number): Rules {
    return (this.configured.get(zone) ?? this.unzoned).get(this.season(at))!;
  }
}

/**
 * Whether a limit can be judged on a zone's readings taken together: the value itself, or a
 * window's mean, LAeq or maximum. Per-position exposure (LEX,8h) and rates of rise belong to one
 * device, and only the rule engine judges them.
 */
export function zoneWide(
  l: Limit,
): l is Limit & { over: { kind: 'last' } | { kind: 'mean' | 'laeq' | 'max'; windowMs: number } } {
  return l.over.kind === 'last' || l.over.kind === 'mean' || l.over.kind === 'laeq' || l.over.kind === 'max';
}

/**
 * The worst limit of a requirement that its values are past at one moment, before any `for` or
 * hysteresis: the most severe, the first in the requirement's order among equals — the limit an
 * alert would name. `valueOf` gives what each limit compares (undefined: nothing to judge it on).
 */
export function breach(
  req: Requirement,
  valueOf: (l: Limit, index: number) => number | undefined,
): { limit: Limit; value: number } | undefined {
  const past: { limit: Limit; value: number }[] = [];
  req.limits.forEach((limit, i) => {
    const value = valueOf(limit, i);
    if (value !== undefined && exceeds(limit, value)) past.push({ limit, value });
  });
  return worst(past);
}
