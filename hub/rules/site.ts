// The site's configuration as the rules see it: the rule book (zone types and overrides, checked
// once at start), devices and the gateways they report through; and the effective rules of every
// zone at a moment that the API, the command line and the dashboards print.
import { readFileSync } from 'node:fs';
import { ConfigError, ms, type Config } from '../config/config.ts';
import { holidaysFromICalendar, Schedule, type Occupancy } from './schedule.ts';
import type { DeclaredDevice, RuleSettings } from './lifecycle.ts';
import { FLAPPING, HUB_HEALTH, LIVENESS } from './requirements.ts';
import { RuleBook, UNZONED_TYPE, type ZoneSpec } from './rulebook.ts';
import type { Requirement, RuleOverride, RuleOverrides } from '../domain/requirement.ts';
import type { Season, ZoneType } from '../domain/zone.ts';

type ConfigOverrides = NonNullable<Config['zones'][number]['rules']>;

function overrides(from: ConfigOverrides | undefined): RuleOverrides {
  const out: RuleOverrides = {};
  for (const [key, o] of Object.entries(from ?? {}) as [
    keyof ConfigOverrides,
    NonNullable<ConfigOverrides[keyof ConfigOverrides]>,
  ][]) {
    const converted: RuleOverride = {
      ...(o.enabled !== undefined && { enabled: o.enabled }),
      ...(o.warning && { warning: o.warning }),
      ...(o.critical && { critical: o.critical }),
      ...(o.for !== undefined && { forMs: ms(o.for) }),
      ...(o.hysteresis !== undefined && { hysteresis: o.hysteresis }),
      ...(o.keep_firing_for !== undefined && { keepFiringForMs: ms(o.keep_firing_for) }),
      ...(o.applies !== undefined && { applies: o.applies }),
    };
    out[key] = converted;
  }
  return out;
}

/** The holidays an iCalendar file lists; a file that cannot be read stops the start, named. */
function holidayCalendar(file: string | undefined, timeZone: string): string[] {
  if (file === undefined) return [];
  try {
    return holidaysFromICalendar(readFileSync(file, 'utf8'), timeZone);
  } catch (err) {
    throw new ConfigError([`site.holiday_calendar: cannot read ${file}: ${(err as Error).message}`]);
  }
}

/** Everything the rules need from the configuration; overrides that contradict each other are refused here, like any other configuration error. */
export function ruleSettings(config: Config): RuleSettings {
  const devices = new Map<string, DeclaredDevice>();
  const gatewayOf = new Map<string, string>();
  for (const d of config.devices) {
    devices.set(d.id, {
      kind: d.kind,
      ...(d.zone !== undefined && { zone: d.zone }),
      intervalMs: ms(d.heartbeat_interval),
      battery: d.battery,
    });
    if (d.gateway !== undefined) gatewayOf.set(d.id, d.gateway);
  }
  for (const port of config.serial) for (const device of Object.keys(port.devices)) gatewayOf.set(device, port.gateway);
  const holidays = new Set([
    ...config.site.holidays,
    ...holidayCalendar(config.site.holiday_calendar, config.site.timezone),
  ]);
  const schedule = (hours: Config['site']['hours']) =>
    new Schedule({
      ...(hours && { hours }),
      holidays,
      timeZone: config.site.timezone,
      warmUpMs: ms(config.site.warm_up),
    });
  const siteSchedule = schedule(config.site.hours);
  const zones = new Map<string, ZoneSpec>(
    config.zones.map((z) => [
      z.id,
      {
        type: z.type,
        ...(z.name !== undefined && { name: z.name }),
        overrides: overrides(z.rules),
        schedule: z.hours ? schedule(z.hours) : siteSchedule,
      },
    ]),
  );
  return {
    book: new RuleBook({
      zones,
      site: overrides(config.rules.overrides),
      season: config.site.season,
      schedule: siteSchedule,
    }),
    devices,
    gatewayOf,
    startupGraceMs: ms(config.rules.startup_grace),
    escalateAfterMs: ms(config.rules.escalate_after),
    storageDownAfterMs: ms(config.rules.storage_down_after),
    notifyFailingAfterMs: ms(config.rules.notify_failing_after),
    storageRejectingClearsAfterMs: ms(config.rules.storage_rejecting_clears_after),
    shifts: config.rules.shifts,
    acousticShockLevel: config.rules.acoustic_shock_level,
  };
}

export interface ZoneRules {
  zone: string;
  name?: string;
  type: ZoneType;
  requirements: readonly Requirement[];
  /** Whether the zone is open at the moment asked, by its hours. */
  occupancy: Occupancy;
  /** The requirements judged at that moment (by when each applies and the zone's hours). */
  judgedNow: readonly string[];
}

export interface SiteRules {
  season: Season;
  /** How the season was chosen: set in config, or from the calendar. */
  seasonFrom: 'config' | 'calendar';
  zones: ZoneRules[];
  liveness: typeof LIVENESS;
  flapping: typeof FLAPPING;
  hub: typeof HUB_HEALTH & {
    storageDownAfterMs: number;
    notifyFailingAfterMs: number;
    storageRejectingClearsAfterMs: number;
    startupGraceMs: number;
    escalateAfterMs: number;
  };
}

function zoneNow(
  book: RuleBook,
  zone: string,
  at: number,
): Pick<ZoneRules, 'requirements' | 'occupancy' | 'judgedNow'> {
  const requirements = book.forZone(zone, at);
  return {
    requirements,
    occupancy: book.occupancy(zone, at),
    judgedNow: requirements.filter((req) => book.judges(zone, req, at)).map((req) => req.key),
  };
}

/** The effective rules of every zone at time `at`, each number with its source, from settings built at start. */
export function effectiveRules(settings: RuleSettings, at: number): SiteRules {
  const { book } = settings;
  return {
    season: book.season(at),
    seasonFrom: book.seasonFrom,
    zones: [
      ...book.zones().map((z) => ({ ...z, ...zoneNow(book, z.zone, at) })),
      // Devices not in a zone have the zone '' in their readings.
      { zone: 'unassigned', name: 'devices not in a zone', type: UNZONED_TYPE, ...zoneNow(book, '', at) },
    ],
    liveness: LIVENESS,
    flapping: FLAPPING,
    hub: {
      ...HUB_HEALTH,
      storageDownAfterMs: settings.storageDownAfterMs,
      notifyFailingAfterMs: settings.notifyFailingAfterMs,
      storageRejectingClearsAfterMs: settings.storageRejectingClearsAfterMs,
      startupGraceMs: settings.startupGraceMs,
      escalateAfterMs: settings.escalateAfterMs,
    },
  };
}

/** The effective rules of every zone at time `at`, straight from a configuration (the command line, the dashboards). */
export function siteRules(config: Config, at: number): SiteRules {
  return effectiveRules(ruleSettings(config), at);
}
