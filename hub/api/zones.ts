// GET /api/v1/zones: each zone's latest values and whether it is inside its environment
// requirements now. The requirements and the judgement are the alert rules' own (the rule book's
// `forZone` and `breach`), so the floor page and an alert never disagree on a number. A zone is
// judged by its worst position: a plain limit compares the highest (or lowest) reading of the
// last 10 minutes, a windowed one (CO₂ 1-hour mean, noise LAeq 15 min, peak over 1 min) the
// zone's aggregate over that window. Per-position exposure (LEX,8h) and the server-room
// temperature rise are judged per device: they show up as alerts, not here. Each zone also says
// how many of its devices are online, so a floor of thousands of devices is summed up here rather
// than listed.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { DeviceCount } from '../devices/registry.ts';
import { breach, zoneWide } from '../rules/rulebook.ts';
import type { SiteRules } from '../rules/site.ts';
import type { Aggregate, StoreReader } from '../store/store.ts';
import { ACCESS_REFUSALS, STORE_DOWN } from './schemas.ts';
import { floorSchema } from './zone-schemas.ts';
import { alertKind, type AlertView } from '../domain/alert.ts';
import type { Limit, Requirement, Severity } from '../domain/requirement.ts';
import type { ZoneType } from '../domain/zone.ts';
import type { Occupancy } from '../rules/schedule.ts';
import { Turns } from '../domain/turns.ts';

export interface ZonesRoutesOptions {
  site: string;
  store: StoreReader;
  rules: () => SiteRules;
  /** The ledger's read-only view: firing alerts per zone. */
  engine: Pick<AlertView, 'alerts'>;
  /** Devices and online devices per zone ('' for devices without a zone). */
  devices: (now: number) => ReadonlyMap<string, DeviceCount>;
  now: () => number;
}

export type Compliance = 'ok' | Severity | 'no_data';

export interface RequirementStatus {
  key: string;
  metric: string;
  title: string;
  unit: string;
  /** The value the deciding limit compared, and over what. */
  value: number | null;
  over: string;
  compliance: Compliance;
  /** The worst limit the value is past. */
  breached?: { severity: Severity; when: 'above' | 'below'; threshold: number; source: string };
}

export interface ZoneStatus {
  zone: string;
  name: string | null;
  type: ZoneType;
  /** Open or closed now, by its hours: what its requirements are judged against. */
  occupancy: Occupancy;
  compliance: Compliance;
  /** The newest reading of each metric the zone's requirements watch, within the last 10 minutes. */
  latest: Record<string, { value: number; ts: number; device: string; unit: string }>;
  requirements: RequirementStatus[];
  alerts: { firing: number; critical: number };
  devices: DeviceCount;
}

/** Readings older than this say nothing about the zone now. */
const FRESH_MS = 10 * 60_000;
/** Store reads one zones answer has under way at once. */
const READS_AT_ONCE = 4;
const RANK: Record<Compliance, number> = { no_data: 0, ok: 1, warning: 2, critical: 3 };

function worst(list: readonly Compliance[]): Compliance {
  return list.reduce<Compliance>((a, b) => (RANK[b] > RANK[a] ? b : a), 'no_data');
}

/** What the store is asked for one limit; undefined for limits judged per device only. */
function queryFor(l: Limit): { agg: Aggregate; windowMs: number; over: string } | undefined {
  if (!zoneWide(l)) return undefined;
  const o = l.over;
  if (o.kind === 'last')
    return l.when === 'above'
      ? { agg: 'max', windowMs: FRESH_MS, over: 'highest in 10 min' }
      : { agg: 'min', windowMs: FRESH_MS, over: 'lowest in 10 min' };
  return {
    agg: o.kind,
    windowMs: o.windowMs,
    over: `${o.kind === 'laeq' ? 'LAeq' : o.kind} over ${Math.round(o.windowMs / 60_000)} min`,
  };
}

export const zonesRoutes: FastifyPluginAsyncZod<ZonesRoutesOptions> = async (
  app,
  { site, store, rules, engine, devices, now },
) => {
  const zoneStatus = async (
    zone: string,
    name: string | undefined,
    type: ZoneType,
    requirements: readonly Requirement[],
    occupancy: Occupancy,
    at: number,
    count: DeviceCount,
    read: StoreReader['query'],
  ): Promise<ZoneStatus> => {
    const asked = new Map<string, Promise<number | undefined>>();
    const aggregate = (metric: string, agg: Aggregate, windowMs: number) => {
      const key = `${metric}|${agg}|${windowMs}`;
      let value = asked.get(key);
      if (!value) {
        value = read({ zone, metric, agg, from: at - windowMs, to: at + 1 }).then((points) => points[0]?.value);
        asked.set(key, value);
      }
      return value;
    };
    const judged = await Promise.all(
      requirements
        .filter((req) => req.limits.some(zoneWide))
        .map(async (req): Promise<RequirementStatus> => {
          const figures = await Promise.all(
            req.limits.map(async (l) => {
              const q = queryFor(l);
              return { over: q?.over, value: q && (await aggregate(req.metric, q.agg, q.windowMs)) };
            }),
          );
          const past = breach(req, (_, i) => figures[i]?.value);
          const deciding =
            (past && { value: past.value, over: queryFor(past.limit)?.over }) ??
            figures.find((x) => x.value !== undefined) ??
            figures.find((x) => x.over !== undefined);
          return {
            key: req.key,
            metric: req.metric,
            title: req.title,
            unit: req.unit,
            value: deciding?.value ?? null,
            over: deciding?.over ?? '',
            compliance: past ? past.limit.severity : figures.some((x) => x.value !== undefined) ? 'ok' : 'no_data',
            ...(past && {
              breached: {
                severity: past.limit.severity,
                when: past.limit.when,
                threshold: past.limit.threshold.value,
                source: past.limit.threshold.source,
              },
            }),
          };
        }),
    );
    const latest: ZoneStatus['latest'] = {};
    const units = new Map(requirements.map((req) => [req.metric, req.unit]));
    await Promise.all(
      [...units].map(async ([metric, unit]) => {
        const [point] = await read({ zone, metric, from: at - FRESH_MS, to: at + 1, limit: 1 });
        if (point) latest[metric] = { value: point.value, ts: point.ts, device: point.device ?? '', unit };
      }),
    );
    const firing = engine.alerts({ state: 'firing', zone });
    return {
      zone,
      name: name ?? null,
      type,
      occupancy,
      // A firing environment alert (a rate of rise, a dose) says the room is not as it should be
      // even where every limit judged now holds.
      compliance: worst([
        ...judged.map((r) => r.compliance),
        ...firing.filter((a) => alertKind(a) === 'environment').map((a) => a.severity),
      ]),
      latest,
      requirements: judged,
      alerts: { firing: firing.length, critical: firing.filter((a) => a.severity === 'critical').length },
      devices: count,
    };
  };

  const schema = {
    summary: 'Zones: latest values and compliance with their environment requirements now',
    response: { 200: floorSchema, ...ACCESS_REFUSALS, 503: STORE_DOWN },
  };
  /** The floor now, worked out once however many screens ask meanwhile. */
  let working: ReturnType<typeof floorNow> | undefined;
  app.get('/api/v1/zones', { schema }, () => {
    working ??= floorNow().finally(() => {
      working = undefined;
    });
    return working;
  });

  async function floorNow() {
    const at = now();
    // A floor of many zones asks for many figures: a few at a time, so one answer never takes
    // the store's whole bound on waiting reads (storage.max_waiting_reads) and is refused busy.
    const reads = new Turns(READS_AT_ONCE, Number.POSITIVE_INFINITY);
    // Once one read has failed the answer is that failure: the reads still waiting are not made.
    let failure: { error: unknown } | undefined;
    const read: StoreReader['query'] = (q) =>
      reads.run(
        async () => {
          if (failure) throw failure.error;
          try {
            return await store.query(q);
          } catch (error) {
            failure ??= { error };
            throw error;
          }
        },
        () => [],
      );
    const current = rules();
    // Devices without a zone have no place on the floor; their alerts are listed with the others.
    const zones = current.zones.filter((z) => z.zone !== 'unassigned');
    const counts = devices(at);
    const none: DeviceCount = { total: 0, online: 0 };
    const all = [...counts.values()].reduce(
      (sum, c) => ({ total: sum.total + c.total, online: sum.online + c.online }),
      none,
    );
    return {
      site,
      season: current.season,
      at,
      // Every device, in a zone or not.
      devices: all,
      unzoned: counts.get('') ?? none,
      zones: await Promise.all(
        zones.map((z) =>
          zoneStatus(
            z.zone,
            z.name,
            z.type,
            // Judged as the alerts are: only what applies now (set-back at night, comfort by day).
            z.requirements.filter((req) => z.judgedNow.includes(req.key)),
            z.occupancy,
            at,
            counts.get(z.zone) ?? none,
            read,
          ),
        ),
      ),
    };
  }
};
