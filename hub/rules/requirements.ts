// The environment requirements' built-in defaults, each number with its source, per zone type and
// season (overrides.ts applies a site's changes to them). Pure: the rule engine, the API, the
// command line and the dashboards all read the same answer.

import {
  SEVERITIES,
  type Severity,
  type Aggregation,
  type Sourced,
  type Limit,
  type Requirement,
} from '../domain/requirement.ts';
import { type ZoneType, type Season } from '../domain/zone.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const KEEP_COMFORT: Sourced = {
  value: 5 * MINUTE,
  source: 'comfort rule: 5 min, as Prometheus keep_firing_for',
  judgement: true,
};
const KEEP_SAFETY: Sourced = { value: 0, source: 'safety rule: fires and clears at once' };
/** No delay: fires, clears or keeps firing at once. */
export const NONE: Sourced = { value: 0, source: 'immediate' };

const S = {
  tempWinter: 'GB 50736-2012; GB/T 18883-2022 16–24; UK ACoP min 16',
  tempSummer: 'GB 50736-2012; GB/T 18883-2022 22–28',
  humWinter: 'GB/T 18883-2022 30–60',
  humSummer: 'GB 50736-2012; GB/T 18883-2022 40–80',
  co2: 'GB/T 18883-2022 0.10 %; DIN 1946-2 / UBA 1500',
  freshAir: 'GB 50736-2012; GB/T 18883-2022',
  airSpeed: 'GB/T 18883-2022',
  noiseFloor: 'HSL call-centre study (62 mean); GB 50118 (raised voices above 57); WHO 70',
  noiseQuiet: 'GB 50118-2010; WHO 35',
  exposure: 'GBZ 2.2-2007 (85, 3 dB rule); EU 2003/10/EC 80/85/87',
  peak: '2003/10/EC 135/137/140',
  server: 'ASHRAE TC 9.9 class A1 (allowable 15–32)',
  serverRate: 'cooling failure heuristic',
  accuracy: 'no smaller than sensor accuracy (±0.3–0.5 °C, ±2–3 %RH)',
  setback: 'set-back band: frost and condensation protection below, no heat build-up above',
} as const;

function src(value: number, source: string, judgement = false): Sourced {
  return judgement ? { value, source, judgement: true } : { value, source };
}

function limit(
  severity: Severity,
  when: 'above' | 'below',
  threshold: Sourced,
  forMs: Sourced,
  over: Aggregation = { kind: 'last' },
  inclusive = false,
): Limit {
  return { severity, when, inclusive, threshold, over, for: forMs };
}

/** Comfort bands by season; `transition` alerts on the union of the winter and summer bands. */
function seasonal(season: Season, winter: Limit[], summer: Limit[]): Limit[] {
  if (season === 'winter') return winter;
  if (season === 'summer') return summer;
  const union: Limit[] = [];
  for (const severity of SEVERITIES) {
    for (const when of ['below', 'above'] as const) {
      const candidates = [...winter, ...summer].filter((l) => l.severity === severity && l.when === when);
      // The wider band wins: the lowest lower limit, the highest upper limit.
      const widest = candidates.sort((a, b) =>
        when === 'below' ? a.threshold.value - b.threshold.value : b.threshold.value - a.threshold.value,
      )[0];
      if (widest) union.push(widest);
    }
  }
  return union;
}

function office(season: Season): Requirement[] {
  const t15 = src(15 * MINUTE, S.tempWinter);
  const tempWinter = [
    limit('warning', 'below', src(18, S.tempWinter), t15),
    limit('warning', 'above', src(24, S.tempWinter), t15),
    limit('critical', 'below', src(16, S.tempWinter), t15),
    limit('critical', 'above', src(26, S.tempWinter, true), t15),
  ];
  const t15s = src(15 * MINUTE, S.tempSummer);
  const tempSummer = [
    limit('warning', 'below', src(22, S.tempSummer), t15s),
    limit('warning', 'above', src(26, S.tempSummer), t15s),
    limit('critical', 'below', src(20, S.tempSummer, true), t15s),
    limit('critical', 'above', src(28, S.tempSummer), t15s),
  ];
  const h30 = src(30 * MINUTE, S.humWinter);
  const humWinter = [
    limit('warning', 'below', src(30, S.humWinter), h30),
    limit('warning', 'above', src(60, S.humWinter), h30),
    limit('critical', 'below', src(20, S.humWinter), h30),
    limit('critical', 'above', src(70, S.humWinter), h30),
  ];
  const h30s = src(30 * MINUTE, S.humSummer);
  const humSummer = [
    limit('warning', 'below', src(40, S.humSummer), h30s),
    limit('warning', 'above', src(70, S.humSummer), h30s),
    limit('critical', 'below', src(30, S.humSummer, true), h30s),
    limit('critical', 'above', src(80, S.humSummer), h30s),
  ];
  const air15 = src(15 * MINUTE, S.airSpeed);
  const airWinter = [limit('warning', 'above', src(0.2, S.airSpeed), air15)];
  const airSummer = [limit('warning', 'above', src(0.3, S.airSpeed), air15)];
  const fa30 = src(30 * MINUTE, S.freshAir);
  return [
    {
      key: 'temperature',
      metric: 'temperature',
      title: `temperature (${season})`,
      unit: 'Cel',
      limits: seasonal(season, tempWinter, tempSummer),
      hysteresis: src(0.5, S.accuracy),
      keepFiringFor: KEEP_COMFORT,
      applies: 'occupied',
    },
    {
      key: 'humidity',
      metric: 'humidity',
      title: `humidity (${season})`,
      unit: '%RH',
      limits: seasonal(season, humWinter, humSummer),
      hysteresis: src(3, S.accuracy),
      keepFiringFor: KEEP_COMFORT,
      applies: 'occupied',
    },
    {
      key: 'co2',
      metric: 'co2',
      title: 'CO₂ (1-hour rolling mean for the warning)',
      unit: 'ppm',
      limits: [
        // The rolling mean already smooths, so the warning needs no pending time.
        limit('warning', 'above', src(1000, S.co2), src(0, S.co2), { kind: 'mean', windowMs: HOUR }),
        limit('critical', 'above', src(1500, S.co2), src(10 * MINUTE, S.co2)),
      ],
      hysteresis: src(100, S.co2),
      keepFiringFor: KEEP_COMFORT,
      applies: 'occupied',
    },
    {
      key: 'fresh_air',
      metric: 'fresh_air',
      title: 'fresh air per person',
      unit: 'm3/h/person',
      limits: [
        limit('warning', 'below', src(30, S.freshAir), fa30),
        limit('critical', 'below', src(15, S.freshAir), fa30),
      ],
      hysteresis: { value: 10, source: S.freshAir, percent: true },
      keepFiringFor: KEEP_COMFORT,
      applies: 'occupied',
    },
    {
      key: 'air_speed',
      metric: 'air_speed',
      title: `air speed (${season})`,
      unit: 'm/s',
      limits: seasonal(season, airWinter, airSummer),
      hysteresis: src(0.05, S.airSpeed),
      keepFiringFor: KEEP_COMFORT,
      applies: 'occupied',
    },
    {
      key: 'noise_exposure',
      metric: 'noise',
      title: 'noise exposure per position, LEX,8h projected over the shift',
      unit: 'dB(A)',
      limits: [
        limit('warning', 'above', src(80, S.exposure), NONE, { kind: 'lex8h' }, true),
        limit('critical', 'above', src(85, S.exposure), NONE, { kind: 'lex8h' }, true),
      ],
      hysteresis: src(1, 'resets per shift; 1 dB against the projection wandering', true),
      keepFiringFor: KEEP_SAFETY,
      applies: 'occupied',
    },
    {
      key: 'noise_peak',
      metric: 'noise_peak',
      title: 'peak sound pressure',
      unit: 'dB(C)',
      limits: [
        limit('warning', 'above', src(135, S.peak), NONE, { kind: 'max', windowMs: MINUTE }, true),
        limit('critical', 'above', src(137, S.peak), NONE, { kind: 'max', windowMs: MINUTE }, true),
      ],
      hysteresis: src(0, S.peak),
      keepFiringFor: KEEP_SAFETY,
      applies: 'always',
    },
    {
      // Nights, weekends and holidays, HVAC set back: the room is kept from harm, not comfortable.
      key: 'temperature_setback',
      metric: 'temperature',
      title: 'temperature while unoccupied (HVAC set-back)',
      unit: 'Cel',
      limits: [
        limit('warning', 'below', src(12, S.setback, true), t15),
        limit('warning', 'above', src(30, S.setback, true), t15),
        limit('critical', 'below', src(8, S.setback, true), t15),
        limit('critical', 'above', src(35, S.setback, true), t15),
      ],
      hysteresis: src(0.5, S.accuracy),
      keepFiringFor: KEEP_COMFORT,
      applies: 'unoccupied',
    },
  ];
}

function noise(type: 'call_floor' | 'quiet_room'): Requirement {
  const window: Aggregation = { kind: 'laeq', windowMs: 15 * MINUTE };
  if (type === 'call_floor') {
    return {
      key: 'noise',
      metric: 'noise',
      title: 'noise, LAeq over 15 min (occupied call floor)',
      unit: 'dB(A)',
      limits: [
        limit('warning', 'above', src(65, S.noiseFloor), src(0, 'none: the window smooths'), window),
        limit('critical', 'above', src(70, S.noiseFloor), src(0, 'none: the window smooths'), window),
      ],
      hysteresis: src(2, S.noiseFloor),
      keepFiringFor: KEEP_COMFORT,
      applies: 'occupied',
    };
  }
  const for5 = src(5 * MINUTE, S.noiseQuiet);
  return {
    key: 'noise',
    metric: 'noise',
    title: 'noise, LAeq over 15 min (quiet room)',
    unit: 'dB(A)',
    limits: [
      limit('warning', 'above', src(40, S.noiseQuiet), for5, window),
      limit('critical', 'above', src(45, S.noiseQuiet, true), for5, window),
    ],
    hysteresis: src(2, S.noiseQuiet),
    keepFiringFor: KEEP_COMFORT,
    applies: 'occupied',
  };
}

function serverRoom(): Requirement[] {
  const warn5 = src(5 * MINUTE, S.server);
  const crit2 = src(2 * MINUTE, S.server);
  const for15 = src(15 * MINUTE, S.server);
  return [
    {
      key: 'temperature',
      metric: 'temperature',
      title: 'rack inlet temperature',
      unit: 'Cel',
      limits: [
        limit('warning', 'below', src(18, S.server), warn5),
        limit('warning', 'above', src(27, S.server), warn5),
        limit('critical', 'below', src(15, S.server), crit2),
        limit('critical', 'above', src(30, S.server), crit2),
      ],
      hysteresis: src(1, S.server),
      keepFiringFor: KEEP_SAFETY,
      applies: 'always',
    },
    {
      key: 'humidity',
      metric: 'humidity',
      title: 'server room relative humidity',
      unit: '%RH',
      limits: [
        limit('warning', 'above', src(60, S.server), for15),
        limit('critical', 'above', src(80, S.server), for15),
        limit('critical', 'below', src(8, S.server), for15),
      ],
      hysteresis: src(3, S.server),
      keepFiringFor: KEEP_SAFETY,
      applies: 'always',
    },
    {
      key: 'dew_point',
      metric: 'dew_point',
      title: 'server room dew point',
      unit: 'Cel',
      limits: [
        limit('warning', 'below', src(-9, S.server), for15),
        limit('warning', 'above', src(15, S.server), for15),
        limit('critical', 'below', src(-12, S.server), for15),
        limit('critical', 'above', src(17, S.server), for15),
      ],
      hysteresis: src(1, S.server),
      keepFiringFor: KEEP_SAFETY,
      applies: 'always',
    },
    {
      key: 'temperature_rise',
      metric: 'temperature',
      title: 'rack inlet temperature rise over 10 min',
      unit: 'Cel',
      limits: [
        limit('warning', 'above', src(2, S.serverRate, true), NONE, { kind: 'rise', windowMs: 10 * MINUTE }, true),
      ],
      hysteresis: src(0.5, S.serverRate, true),
      keepFiringFor: KEEP_SAFETY,
      applies: 'always',
    },
  ];
}

/** The built-in requirements of a zone type in a season, before any override. */
export function defaultRequirements(type: ZoneType, season: Season): Requirement[] {
  if (type === 'server_room') return serverRoom();
  const list = office(season);
  list.splice(5, 0, noise(type));
  return list;
}

export const LIVENESS = {
  silentIntervals: src(3, 'MQTT keepalive ×1.5 rule: 3 heartbeat intervals silent'),
  mainsCriticalMs: src(600_000, 'ThingsBoard inactivity timeout 600 s'),
  batteryCriticalMs: src(25 * HOUR, 'Zigbee2MQTT 25 h'),
  freshMessagesToRecover: src(2, 'clear after 2 fresh messages'),
  staleIntervals: src(3, 'Home Assistant expire_after: 3× the metric interval'),
} as const;

export const FLAPPING = {
  changes: src(4, 'Nagios flap detection; Prometheus keep_firing_for'),
  windowMs: src(30 * MINUTE, 'Nagios flap detection'),
  quietMs: src(30 * MINUTE, 'Nagios flap detection'),
} as const;

export const HUB_HEALTH = {
  backlogEntries: src(10_000, 'journal entries waiting for the store; same as health "degraded"', true),
  diskFreeWarningPercent: src(10, 'free space on the data disk', true),
  diskFreeCriticalPercent: src(2, 'free space on the data disk', true),
} as const;

/** The local month `calendarSeason` last worked out: [from, to) and its season. */
let seasonMonth: { from: number; to: number; season: Season } = { from: 0, to: 0, season: 'winter' };

/** Month-based season for sites that set `season: calendar` (northern hemisphere heating season). */
export function calendarSeason(ts: number): Season {
  // Asked for every reading: the local month is worked out once per month.
  if (ts >= seasonMonth.from && ts < seasonMonth.to) return seasonMonth.season;
  const date = new Date(ts);
  const month = date.getMonth() + 1;
  const season = month >= 11 || month <= 3 ? 'winter' : month >= 6 && month <= 8 ? 'summer' : 'transition';
  const from = new Date(date.getFullYear(), month - 1, 1).getTime();
  seasonMonth = { from, to: new Date(date.getFullYear(), month, 1).getTime(), season };
  return season;
}

/** The hysteresis in the metric's units, at a given limit. */
export function hysteresisAt(req: Requirement, l: Limit): number {
  return req.hysteresis.percent ? (Math.abs(l.threshold.value) * req.hysteresis.value) / 100 : req.hysteresis.value;
}
