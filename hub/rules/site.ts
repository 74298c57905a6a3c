// The site's configuration as the rules see it: zone types, overrides, devices and the gateways
// they report through; and the effective rules per zone that the API and the command line print.
import { ConfigError, ms, type Config } from '../config/config.ts';
import type { DeclaredDevice, RuleSettings } from './engine.ts';
import { calendarSeason, effectiveRequirements, FLAPPING, HUB_HEALTH, LIVENESS, requirementProblem, SEASONS, type Requirement, type RuleOverride, type RuleOverrides, type Season, type ZoneType } from './requirements.ts';

type ConfigOverrides = NonNullable<Config['zones'][number]['rules']>;

function overrides(from: ConfigOverrides | undefined): RuleOverrides {
  const out: RuleOverrides = {};
  for (const [key, o] of Object.entries(from ?? {}) as [keyof ConfigOverrides, NonNullable<ConfigOverrides[keyof ConfigOverrides]>][]) {
    const converted: RuleOverride = {
      ...(o.enabled !== undefined && { enabled: o.enabled }),
      ...(o.warning && { warning: o.warning }),
      ...(o.critical && { critical: o.critical }),
      ...(o.for !== undefined && { forMs: ms(o.for) }),
      ...(o.hysteresis !== undefined && { hysteresis: o.hysteresis }),
      ...(o.keep_firing_for !== undefined && { keepFiringForMs: ms(o.keep_firing_for) }),
    };
    out[key] = converted;
  }
  return out;
}

export function ruleSettings(config: Config): RuleSettings {
  const devices = new Map<string, DeclaredDevice>();
  const gatewayOf = new Map<string, string>();
  for (const d of config.devices) {
    devices.set(d.id, { kind: d.kind, ...(d.zone !== undefined && { zone: d.zone }), intervalMs: ms(d.heartbeat_interval), battery: d.battery });
    if (d.gateway !== undefined) gatewayOf.set(d.id, d.gateway);
  }
  for (const port of config.serial) for (const device of Object.keys(port.devices)) gatewayOf.set(device, port.gateway);
  const zones = new Map(config.zones.map((z) => [z.id, { type: z.type, overrides: overrides(z.rules) }]));
  const siteOverrides = overrides(config.rules.overrides);
  // Overrides that contradict each other are refused at start, like any other configuration error.
  const problems = new Set<string>();
  for (const [zone, z] of [...zones, ['unassigned', { type: 'call_floor' as const, overrides: {} }] as const]) {
    for (const season of SEASONS) {
      for (const req of effectiveRequirements({ zone, type: z.type, season, site: siteOverrides, zoneOverrides: z.overrides })) {
        const problem = requirementProblem(req);
        if (problem) problems.add(`rules for zone ${zone} (${season}): ${problem}`);
      }
    }
  }
  if (problems.size > 0) throw new ConfigError([...problems]);
  return {
    zones,
    siteOverrides,
    season: config.site.season,
    devices,
    gatewayOf,
    startupGraceMs: ms(config.rules.startup_grace),
    escalateAfterMs: ms(config.rules.escalate_after),
    storageDownAfterMs: ms(config.rules.storage_down_after),
    storageRejectingClearsAfterMs: ms(config.rules.storage_rejecting_clears_after),
    shifts: config.rules.shifts,
  };
}

export interface ZoneRules {
  zone: string;
  name?: string;
  type: ZoneType;
  requirements: Requirement[];
}

export interface SiteRules {
  season: Season;
  /** How the season was chosen: set in config, or from the calendar. */
  seasonFrom: 'config' | 'calendar';
  zones: ZoneRules[];
  liveness: typeof LIVENESS;
  flapping: typeof FLAPPING;
  hub: typeof HUB_HEALTH & { storageDownAfterMs: number; storageRejectingClearsAfterMs: number; startupGraceMs: number; escalateAfterMs: number };
}

/** The effective rules of every zone at time `at`, each number with its source. */
export function siteRules(config: Config, at: number): SiteRules {
  const settings = ruleSettings(config);
  const season = settings.season === 'calendar' ? calendarSeason(at) : settings.season;
  const zoneList: { id: string; name?: string; type: ZoneType; rules?: ConfigOverrides }[] = [...config.zones, { id: 'unassigned', name: 'devices not in a zone', type: 'call_floor' }];
  return {
    season,
    seasonFrom: settings.season === 'calendar' ? 'calendar' : 'config',
    zones: zoneList.map((z) => ({
      zone: z.id,
      ...(z.name !== undefined && { name: z.name }),
      type: z.type,
      requirements: effectiveRequirements({ zone: z.id, type: z.type, season, site: settings.siteOverrides, ...(z.rules && { zoneOverrides: overrides(z.rules) }) }),
    })),
    liveness: LIVENESS,
    flapping: FLAPPING,
    hub: { ...HUB_HEALTH, storageDownAfterMs: settings.storageDownAfterMs, storageRejectingClearsAfterMs: settings.storageRejectingClearsAfterMs, startupGraceMs: settings.startupGraceMs, escalateAfterMs: settings.escalateAfterMs },
  };
}
