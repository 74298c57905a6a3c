// A Grafana query against InfluxDB 1.x in raw InfluxQL. The SDK ships no InfluxDB query type, so
// this is the query model Grafana's InfluxDB data source saves for a raw query.
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import {
  ConstantVariableBuilder,
  DashboardBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  LegendDisplayMode,
  LegendPlacement,
  VizLegendOptionsBuilder,
  type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/common';
import { ALERT_HISTORY_POLICY, LONG_TERM_POLICY } from '../hub/store/influx/index.ts';

/** The data sources the provisioning files create (docker-compose.yml's Grafana). */
export const PROVISIONED = {
  influxdb: { type: 'influxdb', uid: 'floorwatch-influxdb', name: 'floorwatch InfluxDB', label: 'InfluxDB' },
  prometheus: { type: 'prometheus', uid: 'floorwatch-prometheus', name: 'floorwatch hub metrics', label: 'Prometheus' },
} as const;

/**
 * What panels, annotations and variables query: a data source variable of the dashboard, so a
 * dashboard imported into a site's own Grafana queries that site's InfluxDB (or Prometheus),
 * chosen at the top of the dashboard; the provisioned one is the default.
 */
export const INFLUX: DataSourceRef = { type: 'influxdb', uid: '${influxdb}' };
export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: '${prometheus}' };

/** The data source variable INFLUX or PROMETHEUS names; first among a dashboard's variables. */
export function dataSourceVariable(kind: keyof typeof PROVISIONED): DatasourceVariableBuilder {
  const p = PROVISIONED[kind];
  return new DatasourceVariableBuilder(kind)
    .label(p.label)
    .type(p.type)
    .current({ selected: true, text: p.name, value: p.uid });
}

/** The database the hub writes to, as the provisioned data source names it. */
export const DATABASE = 'floorwatch';

/**
 * Queries name the database beside the policy ("$database"."long_term"."noise"): InfluxDB 1.x reads
 * that as written, and InfluxDB 3 reads "database"."policy" from its database "database/policy"
 * (a policy named without its database it ignores). A constant, asked for at import.
 */
export function databaseVariable(): ConstantVariableBuilder {
  return new ConstantVariableBuilder('database')
    .label('InfluxDB database')
    .description('The database the hub writes to (the path of its FLOORWATCH_INFLUX_URL)')
    .value(DATABASE);
}

/** A dashboard reading InfluxDB: the data source chosen at its top, and the database its queries name. */
export function influxDashboard(title: string): DashboardBuilder {
  return new DashboardBuilder(title).withVariable(dataSourceVariable('influxdb')).withVariable(databaseVariable());
}

const inPolicy = (policy: string): string => `"$database"."${policy}"`;

/** The alert history measurement, in the retention policy the hub keeps it in (not the default one). */
export const ALERTS = `${inPolicy(ALERT_HISTORY_POLICY)}."alerts"`;

/**
 * A metric's 1-minute aggregates, which the hub keeps for the long-term retention: panels read
 * them, so a range beyond the raw retention still draws (fields mean_value, min_value,
 * max_value, count, and mean_energy for decibels).
 */
export function minutesOf(metric: string): string {
  return `${inPolicy(LONG_TERM_POLICY)}."${metric}"`;
}

/** The minutes of any of these metrics, in one query (a measurement regex in the long-term policy). */
export function minutesOfAny(metrics: readonly string[]): string {
  return `${inPolicy(LONG_TERM_POLICY)}./^(${metrics.join('|')})$/`;
}

/**
 * The zones the data names. A metaquery names no database or policy: InfluxDB 1.x lists every
 * policy's, InfluxDB 3 its data source's database (floorwatch/long_term there) and refuses a
 * qualified name.
 */
export function zoneVariable(): QueryVariableBuilder {
  return tagVariable('zone', 'Zone', 'SHOW TAG VALUES WITH KEY = "zone"');
}

/** A legend naming each series (device, reason, …) under a time series panel. */
export function legend(): VizLegendOptionsBuilder {
  return new VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(LegendDisplayMode.List)
    .placement(LegendPlacement.Bottom);
}

export type ResultFormat = 'time_series' | 'table';

export interface InfluxQuery {
  refId?: string;
  hide?: boolean;
  datasource: DataSourceRef;
  /** InfluxQL; Grafana fills $timeFilter, $__interval, ${__from}, ${__to} and template variables. */
  query: string;
  rawQuery: true;
  resultFormat: ResultFormat;
  /** Series name pattern, e.g. "$tag_device". */
  alias?: string;
  _implementsDataqueryVariant(): void;
}

export class InfluxQueryBuilder implements Builder<Dataquery> {
  private readonly internal: InfluxQuery;

  constructor(query: string) {
    this.internal = {
      datasource: INFLUX,
      query,
      rawQuery: true,
      resultFormat: 'time_series',
      _implementsDataqueryVariant() {},
    };
  }

  build(): InfluxQuery {
    return this.internal;
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  alias(alias: string): this {
    this.internal.alias = alias;
    return this;
  }

  table(): this {
    this.internal.resultFormat = 'table';
    return this;
  }
}

/** A variable of the tag values a query lists: several or all may be chosen, in natural order. */
export function tagVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(INFLUX)
    .query(query)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.NaturalAsc);
}

/** `"zone" =~ /^$zone$/`: a tag matched against a multi-value template variable (Grafana regex-escapes the values). */
export function matchesVariable(tag: string, variable: string): string {
  return `"${tag}" =~ /^$${variable}$/`;
}

/** The energy average of decibel levels (LAeq) per window of `every`, per device, from the minutes' mean energy. */
export function laeqQuery(where: string, every: string): string {
  return `SELECT 10 * log10(mean("mean_energy")) FROM ${minutesOf('noise')} WHERE ${where} AND $timeFilter GROUP BY time(${every}), "device" fill(none)`;
}
