// The hub's own health from its Prometheus metrics (/metrics), scraped by the site's Prometheus.
import { DashboardBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { dataSourceVariable, legend, PROMETHEUS } from './influxql.ts';

interface Plot {
  title: string;
  description: string;
  unit: string;
  queries: { expr: string; legend: string }[];
}

const PLOTS: Plot[] = [
  {
    title: 'Ingest rate',
    description:
      'Messages received per second by source and kind, and readings accepted into the journal and written to the store.',
    unit: 'ops',
    queries: [
      {
        expr: 'sum by (source, kind) (rate(floorwatch_messages_received_total[$__rate_interval]))',
        legend: '{{source}} {{kind}}',
      },
      { expr: 'rate(floorwatch_readings_accepted_total[$__rate_interval])', legend: 'readings accepted' },
      { expr: 'rate(floorwatch_readings_stored_total[$__rate_interval])', legend: 'readings stored' },
    ],
  },
  {
    title: 'Journal lag',
    description:
      'Journal entries each consumer (store, rules, …) has not yet committed. Grows while the store is down; drains when it is back.',
    unit: 'short',
    queries: [{ expr: 'floorwatch_journal_lag_entries', legend: '{{consumer}}' }],
  },
  {
    title: 'Rejections by reason',
    description: 'Messages or values refused per second, by reason (GET /api/v1/rejections lists them).',
    unit: 'ops',
    queries: [{ expr: 'sum by (reason) (rate(floorwatch_rejections_total[$__rate_interval]))', legend: '{{reason}}' }],
  },
  {
    title: 'Store write latency',
    description:
      'How long a batch takes to write to InfluxDB or SQLite (50th and 95th percentile), and failed attempts.',
    unit: 's',
    queries: [
      {
        expr: 'histogram_quantile(0.5, sum by (le) (rate(floorwatch_store_write_seconds_bucket[$__rate_interval])))',
        legend: 'p50',
      },
      {
        expr: 'histogram_quantile(0.95, sum by (le) (rate(floorwatch_store_write_seconds_bucket[$__rate_interval])))',
        legend: 'p95',
      },
      { expr: 'rate(floorwatch_store_write_failures_total[$__rate_interval])', legend: 'failures per second' },
    ],
  },
  {
    title: 'Journal write and fsync time',
    description:
      "Time from the start of a journal group's write until the hub sees it on disk. Every QoS 1 acknowledgement waits for one: a slow or failing disk, or a hub too busy to see it done, shows here first.",
    unit: 's',
    queries: [
      {
        expr: 'histogram_quantile(0.5, sum by (le) (rate(floorwatch_journal_flush_seconds_bucket[$__rate_interval])))',
        legend: 'p50',
      },
      {
        expr: 'histogram_quantile(0.99, sum by (le) (rate(floorwatch_journal_flush_seconds_bucket[$__rate_interval])))',
        legend: 'p99',
      },
    ],
  },
];

export function hubInternals(): DashboardBuilder {
  const board = new DashboardBuilder('Hub internals')
    .withVariable(dataSourceVariable('prometheus'))
    .uid('floorwatch-hub')
    .tags(['floorwatch', 'hub'])
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .readonly();
  PLOTS.forEach((plot, i) => {
    const panel = new timeseries.PanelBuilder()
      .id(i + 1)
      .title(plot.title)
      .description(plot.description)
      .unit(plot.unit)
      .datasource(PROMETHEUS)
      .legend(legend())
      .height(8)
      .span(12);
    plot.queries.forEach((q, j) =>
      panel.withTarget(
        new DataqueryBuilder()
          .datasource(PROMETHEUS)
          .expr(q.expr)
          .legendFormat(q.legend)
          .refId(String.fromCharCode(65 + j)),
      ),
    );
    board.withPanel(panel);
  });
  return board;
}
