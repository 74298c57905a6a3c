// The floor's environment and noise exposure, zone by zone, with the bands of each zone's
// effective requirements (the ones its alerts are judged by).
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import {
  BarGaugeDisplayMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  ReduceDataOptionsBuilder,
  VizOrientation,
} from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationPanelFilterBuilder,
  AnnotationQueryBuilder,
  type DashboardBuilder,
  RowBuilder,
} from '@grafana/grafana-foundation-sdk/dashboard';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { METRICS } from '../hub/domain/reading.ts';
import type { SiteRules, ZoneRules } from '../hub/rules/site.ts';
import {
  ALERTS,
  INFLUX,
  influxDashboard,
  InfluxQueryBuilder,
  laeqQuery,
  legend,
  matchesVariable,
  minutesOf,
  tagVariable,
  zoneVariable,
} from './influxql.ts';
import { describeLimits, thresholds } from './thresholds.ts';
import type { Limit, Requirement, RequirementKey } from '../hub/domain/requirement.ts';

/** Grafana's unit ids for the canonical units. */
const GRAFANA_UNIT: Record<string, string> = { Cel: 'celsius', '%RH': 'humidity', ppm: 'ppm', 'dB(A)': 'dB' };
const HOUR = 3_600_000;
const EIGHT_HOURS = 8 * HOUR;
/** 100 % daily noise dose is LEX,8h 85 dB(A) (GBZ 2.2-2007; EU 2003/10/EC upper action value). */
const DOSE_REFERENCE_DB = 85;

export const SEASON_MONTHS = {
  winter: 'November–March',
  summer: 'June–August',
  transition: 'April, May, September, October',
} as const;

interface Plot {
  key: RequirementKey;
  title: string;
  /** InfluxQL for one zone. */
  query(zone: string, req: Requirement | undefined): string;
}

/** One zone's row, as far as the dashboard's zone and device variables choose it. */
function chosen(zone: string): string {
  return `"zone" = '${zone}' AND ${matchesVariable('zone', 'zone')} AND ${matchesVariable('device', 'device')}`;
}

function mean(metric: string): (zone: string) => string {
  return (zone) =>
    `SELECT mean("mean_value") FROM ${minutesOf(metric)} WHERE ${chosen(zone)} AND $timeFilter GROUP BY time($__interval), "device" fill(none)`;
}

function windowOf(req: Requirement | undefined, kind: 'mean' | 'laeq', fallbackMs: number): number {
  const over = req?.limits.find((l) => l.over.kind === kind)?.over;
  return over && 'windowMs' in over ? over.windowMs : fallbackMs;
}

const OFFICE: Plot[] = [
  { key: 'temperature', title: 'Temperature', query: mean('temperature') },
  { key: 'humidity', title: 'Relative humidity', query: mean('humidity') },
  {
    key: 'co2',
    title: 'CO₂, 1-hour mean',
    // A rolling mean of 1-minute means over the rule's window (the first window of the range stays empty).
    query: (zone, req) =>
      `SELECT moving_average(mean("mean_value"), ${windowOf(req, 'mean', HOUR) / 60_000}) FROM ${minutesOf('co2')} WHERE ${chosen(zone)} AND $timeFilter GROUP BY time(1m), "device" fill(none)`,
  },
  {
    key: 'noise',
    title: 'Noise, LAeq',
    query: (zone, req) => laeqQuery(chosen(zone), `${windowOf(req, 'laeq', 15 * 60_000) / 60_000}m`),
  },
];

const SERVER_ROOM: Plot[] = [
  { key: 'temperature', title: 'Rack inlet temperature', query: mean('temperature') },
  { key: 'humidity', title: 'Relative humidity', query: mean('humidity') },
  { key: 'dew_point', title: 'Dew point', query: mean('dew_point') },
];

function zoneTitle(z: ZoneRules): string {
  return z.name !== undefined ? `${z.name} (${z.zone})` : z.zone;
}

function banded(title: string, unit: string, limits: readonly Limit[], description: string): timeseries.PanelBuilder {
  return (
    new timeseries.PanelBuilder()
      .title(title)
      .description(description)
      .unit(GRAFANA_UNIT[unit] ?? unit)
      .thresholds(thresholds(limits))
      .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.DashedAndArea))
      .legend(legend())
      // The minutes are the finest the panels read.
      .interval('1m')
      .height(8)
      .span(6)
  );
}

/** The zones a dashboard shows: those of the configuration (devices without a zone have no room to judge). */
function zonesOf(rules: SiteRules): ZoneRules[] {
  return rules.zones.filter((z) => z.zone !== 'unassigned');
}

export function floorEnvironment(rules: SiteRules, uid: string, title: string): DashboardBuilder {
  const board = influxDashboard(title)
    // Zones and devices as the readings name them; the device list follows the zones chosen.
    .withVariable(zoneVariable())
    .withVariable(
      tagVariable('device', 'Device', `SHOW TAG VALUES WITH KEY = "device" WHERE ${matchesVariable('zone', 'zone')}`),
    )
    .uid(uid)
    .tags(['floorwatch', 'environment'])
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .timezone('browser')
    .readonly();
  let id = 0;
  for (const zone of zonesOf(rules)) {
    board.withRow(new RowBuilder(zoneTitle(zone)).id(++id));
    const ids: number[] = [];
    for (const plot of zone.type === 'server_room' ? SERVER_ROOM : OFFICE) {
      const req = zone.requirements.find((r) => r.key === plot.key);
      const description = req ? describeLimits(req) : `No ${plot.key} rule is enabled for ${zone.zone}.`;
      const unit = req?.unit ?? METRICS.get(plot.key)?.unit ?? '';
      ids.push(++id);
      board.withPanel(
        banded(`${plot.title} — ${zone.zone}`, unit, req?.limits ?? [], description)
          .id(id)
          .withTarget(new InfluxQueryBuilder(plot.query(zone.zone, req)).refId('A').alias('$tag_device')),
      );
    }
    board.annotation(
      new AnnotationQueryBuilder()
        .name(`Alerts in ${zone.zone}`)
        .datasource(INFLUX)
        .enable(true)
        .iconColor('red')
        .target(
          new InfluxQueryBuilder(
            `SELECT "summary" AS "text", "rule", "severity", "event" FROM ${ALERTS} WHERE "zone" = '${zone.zone}' AND $timeFilter`,
          )
            .refId('Anno')
            .table(),
        )
        .filter(new AnnotationPanelFilterBuilder().ids(ids)),
    );
  }
  return board;
}

function dose(level: number): number {
  return Math.round(1000 * 10 ** ((level - DOSE_REFERENCE_DB) / 10)) / 10;
}

/** LEX,8h and dose over the dashboard's time range, taken as the shift: Σ energy / 8 h. */
function exposureQuery(zone: string, select: (energyTimesRange: string) => string): string {
  const energy = `mean("mean_energy") * (\${__to} - \${__from}) / ${EIGHT_HOURS}`;
  return `SELECT ${select(energy)} FROM ${minutesOf('noise')} WHERE "zone" = '${zone}' AND ${matchesVariable('device', 'position')} AND $timeFilter GROUP BY "device"`;
}

function gauge(
  title: string,
  unit: string,
  limits: readonly Limit[],
  description: string,
  query: string,
): bargauge.PanelBuilder {
  return new bargauge.PanelBuilder()
    .title(title)
    .description(description)
    .unit(unit)
    .thresholds(thresholds(limits))
    .displayMode(BarGaugeDisplayMode.Basic)
    .orientation(VizOrientation.Horizontal)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .height(8)
    .span(6)
    .withTarget(new InfluxQueryBuilder(query).refId('A').alias('$tag_device'));
}

export function noiseExposure(rules: SiteRules): DashboardBuilder {
  const board = influxDashboard('Noise exposure')
    .uid('floorwatch-noise-exposure')
    .description(
      'Noise per position (device): LAeq, and LEX,8h and daily dose over the selected time range taken as the shift. Select the shift as the time range.',
    )
    .tags(['floorwatch', 'noise'])
    .time({ from: 'now-8h', to: 'now' })
    .refresh('1m')
    .timezone('browser')
    .readonly()
    .withVariable(tagVariable('position', 'Position', 'SHOW TAG VALUES FROM "noise" WITH KEY = "device"'));
  let id = 0;
  for (const zone of zonesOf(rules).filter((z) => z.type !== 'server_room')) {
    board.withRow(new RowBuilder(zoneTitle(zone)).id(++id));
    const noise = zone.requirements.find((r) => r.key === 'noise');
    const exposure = zone.requirements.find((r) => r.key === 'noise_exposure');
    const noiseWindow = `${windowOf(noise, 'laeq', 15 * 60_000) / 60_000}m`;
    board.withPanel(
      banded(
        `LAeq per position — ${zone.zone}`,
        'dB(A)',
        noise?.limits ?? [],
        noise ? describeLimits(noise) : `No noise rule is enabled for ${zone.zone}.`,
      )
        .id(++id)
        .span(12)
        .withTarget(
          new InfluxQueryBuilder(
            laeqQuery(`"zone" = '${zone.zone}' AND ${matchesVariable('device', 'position')}`, noiseWindow),
          )
            .refId('A')
            .alias('$tag_device'),
        ),
    );
    const exposureText = exposure ? describeLimits(exposure) : `No noise exposure rule is enabled for ${zone.zone}.`;
    const doseLimits = (exposure?.limits ?? []).map((l) => ({
      ...l,
      threshold: { ...l.threshold, value: dose(l.threshold.value) },
    }));
    board.withPanel(
      gauge(
        `LEX,8h per position — ${zone.zone}`,
        'dB',
        exposure?.limits ?? [],
        exposureText,
        exposureQuery(zone.zone, (e) => `10 * log10(${e}) AS "lex8h"`),
      ).id(++id),
    );
    board.withPanel(
      gauge(
        `Daily noise dose — ${zone.zone}`,
        'percent',
        doseLimits,
        `100 % is LEX,8h ${DOSE_REFERENCE_DB} dB(A); each 3 dB doubles it.\n${exposureText}`,
        exposureQuery(zone.zone, (e) => `100 * ${e} / ${(10 ** (DOSE_REFERENCE_DB / 10)).toFixed(0)} AS "dose"`),
      ).id(++id),
    );
  }
  return board;
}
