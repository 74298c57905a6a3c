// The shift handover: what the floor was like between `from` and `to`, per zone and per noise
// position, and what went wrong — alerts, devices that went offline, equipment faults. Figures come
// from the store's own aggregates; compliance is judged against the same requirements the alert
// rules use; the alert history is the store's.
import type { Occupancy } from '../rules/schedule.ts';
import type { SiteRules } from '../rules/site.ts';
import { dosePercent, lex8h } from '../rules/window.ts';
import type { Aggregate, SeriesPoint, StoreReader } from '../store/store.ts';
import { isBand, windowKey, windowsOf, withinJudge } from './compliance.ts';
import { type Incident, faultName, incidents, isAcoustic, isFault, isOffline, overlapMs } from './incidents.ts';
import type { ZoneType } from '../domain/zone.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Alerts that began up to this long before a report's start are found in the history. */
const HISTORY_LOOKBACK_MS = 7 * 24 * HOUR;
const HISTORY_LIMIT = 100_000;

export const ROOM_METER_NOTE =
  'Noise figures come from room meters at each position: a room meter is a proxy for what an agent hears. Per-agent exposure needs a headset- or ear-referenced measurement (ISO 9612).';

export interface Spread {
  min: number;
  mean: number;
  max: number;
}

export interface ZoneCompliance {
  requirement: string;
  metric: string;
  title: string;
  /** Percent of the zone's readings at which no limit of the requirement was crossed. */
  percentWithin: number;
  readings: number;
}

export interface ZoneSummary {
  zone: string;
  name?: string;
  type: ZoneType;
  temperature?: Spread;
  humidity?: Spread;
  /** The highest 1-hour mean (clock hours) and the hour it started. */
  co2MaxHourlyMean?: { value: number; hour: number };
  compliance: ZoneCompliance[];
  /** How much of the span the zone was open by its hours, and whether it is at the span's end. */
  openPercent: number;
  occupancyAtEnd: 'occupied' | 'unoccupied';
}

export interface PositionExposure {
  device: string;
  zone: string;
  /** Energy average over the span. */
  laeq: number;
  /** Daily exposure, the span's LAeq held for the span's length. */
  lex8h: number;
  dosePercent: number;
}

export interface AlertLine extends Incident {
  /** From firing to resolution, or to the end of the span while still open. */
  durationMs: number;
  open: boolean;
}

export interface ShiftReport {
  from: number;
  to: number;
  season: SiteRules['season'];
  zones: ZoneSummary[];
  positions: PositionExposure[];
  alerts: { fired: number; acknowledged: number; open: number; list: AlertLine[] };
  offline: { device: string; zone: string; since: number; back?: number; offlineMs: number }[];
  /** Peaks at headsets at or above the acoustic shock level: position, time and level. */
  acoustic: { device: string; zone: string; at: number; levelDb: number | null }[];
  faults: {
    device: string;
    zone: string;
    fault: string;
    severity: 'warning' | 'critical';
    since: number;
    cleared?: number;
    durationMs: number;
  }[];
  notes: string[];
}

/** The alert history a report over [from, to) needs, alerts that were already open included. */
export async function alertHistory(store: StoreReader, from: number, to: number): Promise<Incident[]> {
  const history = await store.queryAlertEvents({ from: from - HISTORY_LOOKBACK_MS, to, limit: HISTORY_LIMIT });
  return incidents(history, from, to);
}

async function single(
  store: StoreReader,
  zone: string,
  metric: string,
  agg: Aggregate,
  from: number,
  to: number,
): Promise<number | undefined> {
  return (await store.query({ zone, metric, from, to, agg }))[0]?.value;
}

async function spread(
  store: StoreReader,
  zone: string,
  metric: string,
  from: number,
  to: number,
): Promise<Spread | undefined> {
  const [min, mean, max] = await Promise.all(
    (['min', 'mean', 'max'] as const).map((agg) => single(store, zone, metric, agg, from, to)),
  );
  return min === undefined || mean === undefined || max === undefined ? undefined : { min, mean, max };
}

/** The report's span in pieces, each with the rules in force through it. */
interface SeasonSpan {
  from: number;
  to: number;
  rules: SiteRules;
}

/**
 * Where the season changes within a span: a configured season never does, and the calendar's only
 * at the start of a month, so only month starts are looked at.
 */
function seasonSpans(rulesAt: (at: number) => SiteRules, from: number, to: number): SeasonSpan[] {
  const spans: SeasonSpan[] = [];
  let start = from;
  let current = rulesAt(from);
  const monthStart = new Date(from);
  monthStart.setDate(1);
  monthStart.setHours(0, 0, 0, 0);
  for (
    monthStart.setMonth(monthStart.getMonth() + 1);
    monthStart.getTime() < to;
    monthStart.setMonth(monthStart.getMonth() + 1)
  ) {
    const next = rulesAt(monthStart.getTime());
    if (next.season === current.season) continue;
    spans.push({ from: start, to: monthStart.getTime(), rules: current });
    start = monthStart.getTime();
    current = next;
  }
  spans.push({ from: start, to, rules: current });
  return spans;
}

/** Each zone's state at a minute: open or not, and the requirements judged then. */
type ZonesAt = (at: number) => ReadonlyMap<string, { occupancy: Occupancy; judged: ReadonlySet<string> }>;

/**
 * The zones' state by the minute (their hours: comfort by day, set-back at night), each minute
 * worked out once for every zone. A report spans at most a week: at most 10,080 minutes kept.
 */
function zonesByMinute(rulesAt: (at: number) => SiteRules): ZonesAt {
  const byMinute = new Map<number, ReturnType<ZonesAt>>();
  return (at) => {
    const minute = Math.floor(at / 60_000);
    let zones = byMinute.get(minute);
    if (!zones) {
      zones = new Map(
        rulesAt(minute * 60_000).zones.map((z) => [z.zone, { occupancy: z.occupancy, judged: new Set(z.judgedNow) }]),
      );
      byMinute.set(minute, zones);
    }
    return zones;
  };
}

/** A requirement's count over the report: readings judged by it, and those within it. */
interface Tally {
  requirement: string;
  metric: string;
  title: string;
  within: number;
  readings: number;
}

/** Raw readings read at once at most (about): a dense day is read in slices of this many. */
const SLICE_READINGS = 50_000;

/**
 * A zone's raw readings of a metric over [from, to), a day at a time and a dense day in slices of
 * about SLICE_READINGS; a day the raw retention has begun to pass (before `rawSince`) an hour at a
 * time, as the store answers it with a minute per device. However dense the floor, a week's report
 * holds about that many at once, and each slice is judged in a turn of the event loop of its own.
 */
async function inSlices(
  store: StoreReader,
  where: { zone: string; metric: string; rawSince: number },
  from: number,
  to: number,
  take: (points: readonly SeriesPoint[]) => void,
): Promise<void> {
  const { zone, metric, rawSince } = where;
  for (let day = from; day < to; day += DAY) {
    const dayEnd = Math.min(to, day + DAY);
    // Only raw readings are counted: minutes past the retention are not.
    const count = await store.count({ zone, metric, from: day, to: dayEnd });
    const minutes = day < rawSince;
    if (!minutes && count === 0) continue;
    const slices = Math.max(Math.ceil(count / SLICE_READINGS), minutes ? 24 : 1);
    const step = Math.ceil((dayEnd - day) / slices);
    for (let start = day; start < dayEnd; start += step) {
      const end = Math.min(dayEnd, start + step);
      // Past the raw retention the store answers whole minutes, the first of which may begin before `start`.
      take((await store.query({ zone, metric, from: start, to: end })).filter((p) => p.ts >= start && p.ts < end));
    }
  }
}

/**
 * A zone's compliance with each requirement, and the positions its noise came from: each reading
 * judged by the requirement of its season, and only if the requirement was judged then (a set-back
 * band at night, comfort by day). Each metric's readings are read once, for all its requirements.
 */
async function complianceOf(
  store: StoreReader,
  zone: string,
  spans: readonly SeasonSpan[],
  zonesAt: ZonesAt,
  rawSince: number,
): Promise<{ compliance: ZoneCompliance[]; noisePositions: string[] }> {
  const tallies = new Map<string, Tally>();
  const positions = new Set<string>();
  for (const span of spans) {
    // Noise is read even without a noise requirement: its devices are the report's positions.
    const judges = new Map<string, { tally: Tally; within: (p: SeriesPoint) => boolean }[]>([['noise', []]]);
    for (const req of span.rules.zones.find((z) => z.zone === zone)?.requirements ?? []) {
      if (!isBand(req)) continue;
      let tally = tallies.get(req.key);
      if (!tally)
        tallies.set(
          req.key,
          (tally = { requirement: req.key, metric: req.metric, title: req.title, within: 0, readings: 0 }),
        );
      const windows = new Map<string, SeriesPoint[]>();
      for (const w of windowsOf(req)) {
        const query = { zone, metric: req.metric, from: span.from, to: span.to, agg: w.kind, every: w.windowMs };
        windows.set(windowKey(w), await store.query(query));
      }
      judges.set(req.metric, [...(judges.get(req.metric) ?? []), { tally, within: withinJudge(req, windows) }]);
    }
    for (const [metric, judged] of judges)
      await inSlices(store, { zone, metric, rawSince }, span.from, span.to, (points) => {
        for (const p of points) {
          if (metric === 'noise' && p.device !== undefined) positions.add(p.device);
          const now = zonesAt(p.ts).get(zone)?.judged;
          for (const { tally, within } of judged) {
            if (!now?.has(tally.requirement)) continue;
            tally.readings += 1;
            if (within(p)) tally.within += 1;
          }
        }
      });
  }
  const compliance = [...tallies.values()]
    .filter((t) => t.readings > 0)
    .map(({ within, readings, ...shown }) => ({ ...shown, percentWithin: (100 * within) / readings, readings }));
  return { compliance, noisePositions: [...positions].sort() };
}

async function zoneSummary(
  store: StoreReader,
  z: SiteRules['zones'][number],
  spans: readonly SeasonSpan[],
  zonesAt: ZonesAt,
  rawSince: number,
): Promise<{ summary: Omit<ZoneSummary, 'openPercent' | 'occupancyAtEnd'>; noisePositions: string[] }> {
  const from = spans[0]?.from ?? 0;
  const to = spans.at(-1)?.to ?? 0;
  const [temperature, humidity, hourly] = await Promise.all([
    spread(store, z.zone, 'temperature', from, to),
    spread(store, z.zone, 'humidity', from, to),
    store.query({ zone: z.zone, metric: 'co2', from, to, agg: 'mean', every: HOUR }),
  ]);
  const peak = hourly.reduce<SeriesPoint | undefined>(
    (best, p) => (best === undefined || p.value > best.value ? p : best),
    undefined,
  );
  const { compliance, noisePositions } = await complianceOf(store, z.zone, spans, zonesAt, rawSince);
  const summary = {
    zone: z.zone,
    ...(z.name !== undefined && { name: z.name }),
    type: z.type,
    ...(temperature && { temperature }),
    ...(humidity && { humidity }),
    ...(peak && { co2MaxHourlyMean: { value: peak.value, hour: peak.ts } }),
    compliance,
  };
  return { summary, noisePositions };
}

/** Every zone's share of [from, to) spent open by its hours, looked at every 5 minutes. */
function openShares(zonesAt: ZonesAt, from: number, to: number): Map<string, number> {
  const step = 5 * 60_000;
  const open = new Map<string, number>();
  let samples = 0;
  for (let t = from; t < to; t += step, samples++)
    for (const [zone, z] of zonesAt(t)) if (z.occupancy === 'occupied') open.set(zone, (open.get(zone) ?? 0) + 1);
  return new Map([...open].map(([zone, n]) => [zone, samples === 0 ? 0 : (100 * n) / samples]));
}

/** `rulesAt` gives the rules in force at a time: a reading is judged by those of its own season. */
export async function shiftReport(
  store: StoreReader,
  rulesAt: (at: number) => SiteRules,
  from: number,
  to: number,
  /** Where the store's raw readings begin (its raw retention); before it, it answers minutes. */
  rawSince: number,
): Promise<ShiftReport> {
  const spans = seasonSpans(rulesAt, from, to);
  const rules = rulesAt(from);
  const zonesAt = zonesByMinute(rulesAt);
  // Every minute's rules worked out ahead, an hour of them a turn: a week is 10,080 of them.
  for (let t = Math.floor(from / 60_000) * 60_000, n = 1; t < to; t += 60_000, n++) {
    zonesAt(t);
    if (n % 60 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const shares = openShares(zonesAt, from, to);
  const atEnd = zonesAt(to - 1);
  const zones: ZoneSummary[] = [];
  const positions: PositionExposure[] = [];
  // 'unassigned' is not a place on the floor: its devices have no zone in the store.
  for (const z of rules.zones.filter((z) => z.zone !== 'unassigned')) {
    const { summary, noisePositions } = await zoneSummary(store, z, spans, zonesAt, rawSince);
    zones.push({
      ...summary,
      openPercent: shares.get(z.zone) ?? 0,
      occupancyAtEnd: atEnd.get(z.zone)?.occupancy ?? 'occupied',
    });
    for (const device of noisePositions) {
      const laeq = (await store.query({ device, metric: 'noise', from, to, agg: 'laeq' }))[0]?.value;
      if (laeq === undefined) continue;
      const lex = lex8h((to - from) * 10 ** (laeq / 10));
      positions.push({ device, zone: z.zone, laeq, lex8h: lex, dosePercent: dosePercent(lex) });
    }
  }

  const all = await alertHistory(store, from, to);
  const inSpan = (t: number | undefined) => t !== undefined && t >= from && t < to;
  const list = all.map((i) => ({
    ...i,
    durationMs: (i.resolvedAt ?? to) - i.firingAt,
    open: i.resolvedAt === undefined,
  }));
  return {
    from,
    to,
    season: rules.season,
    zones,
    positions,
    alerts: {
      fired: all.filter((i) => inSpan(i.firingAt)).length,
      acknowledged: all.filter((i) => inSpan(i.acknowledgedAt)).length,
      open: list.filter((i) => i.open).length,
      list,
    },
    offline: all.filter(isOffline).map((i) => ({
      device: i.subject,
      zone: i.zone,
      since: i.firingAt,
      ...(i.resolvedAt !== undefined && { back: i.resolvedAt }),
      offlineMs: overlapMs(i, from, to),
    })),
    acoustic: all
      .filter((i) => isAcoustic(i) && inSpan(i.firingAt))
      .map((i) => ({ device: i.subject, zone: i.zone, at: i.firingAt, levelDb: i.value ?? null })),
    faults: all.filter(isFault).map((i) => ({
      device: i.subject,
      zone: i.zone,
      fault: faultName(i),
      severity: i.severity,
      since: i.firingAt,
      ...(i.resolvedAt !== undefined && { cleared: i.resolvedAt }),
      durationMs: (i.resolvedAt ?? to) - i.firingAt,
    })),
    notes: [
      ROOM_METER_NOTE,
      `LEX,8h takes each position's LAeq as its level for the whole report (${Math.round((to - from) / 60_000)} min). Within requirements: the share of readings at which no limit was crossed, windowed limits judged on clock-aligned windows.`,
    ],
  };
}
