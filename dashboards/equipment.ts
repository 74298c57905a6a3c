// Equipment health and alerts, from what the hub stores: the `alerts` measurement (every alert
// transition) and the presence of readings. Heartbeats themselves are not stored.
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import { BarGaugeDisplayMode, ReduceDataOptionsBuilder, VizOrientation } from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  type DashboardBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type ValueMap,
  MappingType,
} from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { METRICS } from '../hub/domain/reading.ts';
import {
  ALERTS,
  INFLUX,
  influxDashboard,
  InfluxQueryBuilder,
  legend,
  matchesVariable,
  minutesOfAny,
  zoneVariable,
} from './influxql.ts';

const IN_ZONE = matchesVariable('zone', 'zone');
const PRESENCE_RULES = '/^(offline|gateway_offline)$/';
const EQUIPMENT_RULES = '/^equipment/';
const AVAILABILITY_BUCKET_MS = 5 * 60_000;

/** Alerts whose latest transition is not `resolved`: the last event of each alert key. */
function openAlerts(filter: string, columns: string): string {
  return `SELECT ${columns} FROM (SELECT last("alert_id") AS "alert_id", "subject", "rule", "severity", "event", "summary", "zone" FROM ${ALERTS} WHERE ${filter} GROUP BY "key") WHERE "event" != 'resolved'`;
}

const OPEN_COLUMNS = '"zone", "subject", "rule", "severity", "event", "summary"';

function tableOf(title: string, description: string, query: string): table.PanelBuilder {
  return new table.PanelBuilder()
    .title(title)
    .description(description)
    .height(8)
    .span(12)
    .withTarget(new InfluxQueryBuilder(query).refId('A').table());
}

const EVENT_COLOURS: ValueMap = {
  type: MappingType.ValueToText,
  options: {
    firing: { color: 'red', index: 0 },
    severity: { color: 'orange', index: 1 },
    escalated: { color: 'dark-red', index: 2 },
    acknowledged: { color: 'yellow', index: 3 },
    resolved: { color: 'green', index: 4 },
  },
};

export function equipmentHealth(): DashboardBuilder {
  const offlineNow = openAlerts(`"rule" =~ ${PRESENCE_RULES} AND ${IN_ZONE}`, OPEN_COLUMNS);
  const metrics = minutesOfAny([...METRICS.keys()]);
  return influxDashboard('Equipment health')
    .uid('floorwatch-equipment')
    .description(
      'Devices and gateways from their alerts (offline, equipment faults) and from the readings they send. Heartbeats are not stored, so a device that only heartbeats shows here through its alerts.',
    )
    .tags(['floorwatch', 'equipment'])
    .time({ from: 'now-7d', to: 'now' })
    .refresh('1m')
    .timezone('browser')
    .readonly()
    .withVariable(zoneVariable())
    .withRow(new RowBuilder('Now').id(1))
    .withPanel(
      new stat.PanelBuilder()
        .id(2)
        .title('Devices offline now')
        .description('Devices and gateways whose offline alert has not resolved.')
        .thresholds(
          new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
            { value: null, color: 'green' },
            { value: 1, color: 'red' },
          ]),
        )
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']))
        .noValue('0')
        .height(8)
        .span(6)
        .withTarget(
          new InfluxQueryBuilder(
            openAlerts(`"rule" =~ ${PRESENCE_RULES} AND ${IN_ZONE}`, 'count("alert_id") AS "offline"'),
          ).refId('A'),
        ),
    )
    .withPanel(tableOf('Offline devices', 'Since when, and what the hub last said.', offlineNow).id(3).span(18))
    .withRow(new RowBuilder('History').id(4))
    .withPanel(
      new statetimeline.PanelBuilder()
        .id(5)
        .title('Device state')
        .description(
          'Each offline and equipment alert of a device (its key) through the time range: red firing, orange severity change, yellow acknowledged, green resolved.',
        )
        .mappings([EVENT_COLOURS])
        .height(10)
        .span(24)
        .withTransformation({ id: 'organize', options: { excludeByName: { alert_id: true } } })
        .withTarget(
          new InfluxQueryBuilder(
            `SELECT "event" AS "state", "alert_id" FROM ${ALERTS} WHERE "rule" =~ /^(offline|gateway_offline|equipment)/ AND ${IN_ZONE} AND $timeFilter GROUP BY "key"`,
          )
            .refId('A')
            .alias('$tag_key'),
        ),
    )
    .withPanel(
      tableOf(
        'Fault codes',
        'Every equipment fault reported in the time range, with the code the device sent.',
        `SELECT "subject", "rule", "severity", "summary" FROM ${ALERTS} WHERE "rule" =~ ${EQUIPMENT_RULES} AND "event" = 'firing' AND ${IN_ZONE} AND $timeFilter`,
      ).id(6),
    )
    .withPanel(
      new bargauge.PanelBuilder()
        .id(7)
        .title('Faults by component')
        .description('Equipment alerts fired in the time range, per component (equipment.headset, equipment.pc, …).')
        .displayMode(BarGaugeDisplayMode.Basic)
        .orientation(VizOrientation.Horizontal)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['sum']))
        .height(8)
        .span(12)
        .withTarget(
          new InfluxQueryBuilder(
            `SELECT count("alert_id") FROM ${ALERTS} WHERE "rule" =~ ${EQUIPMENT_RULES} AND "event" = 'firing' AND ${IN_ZONE} AND $timeFilter GROUP BY "rule"`,
          )
            .refId('A')
            .alias('$tag_rule'),
        ),
    )
    .withRow(new RowBuilder('Availability').id(8))
    .withPanel(
      new bargauge.PanelBuilder()
        .id(9)
        .title('Sensor availability')
        .description(
          `Share of ${AVAILABILITY_BUCKET_MS / 60_000}-minute periods in the time range with at least one reading, per device and metric.`,
        )
        .unit('percent')
        .min(0)
        .max(100)
        .thresholds(
          new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
            { value: null, color: 'red' },
            { value: 95, color: 'orange' },
            { value: 99, color: 'green' },
          ]),
        )
        .displayMode(BarGaugeDisplayMode.Basic)
        .orientation(VizOrientation.Horizontal)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']))
        .height(10)
        .span(12)
        .withTarget(
          new InfluxQueryBuilder(
            // From the minutes, not the raw readings: a range beyond the raw retention still counts.
            `SELECT 100 * count("minutes") * ${AVAILABILITY_BUCKET_MS} / (\${__to} - \${__from}) AS "availability" FROM (SELECT count("count") AS "minutes" FROM ${metrics} WHERE ${IN_ZONE} AND $timeFilter GROUP BY time(${AVAILABILITY_BUCKET_MS / 60_000}m), "device") GROUP BY "device"`,
          )
            .refId('A')
            .alias('$tag_device $measurement'),
        ),
    )
    .withPanel(
      new bargauge.PanelBuilder()
        .id(10)
        .title('Offline incidents per device')
        .description('Offline alerts fired in the time range, per device or gateway.')
        .displayMode(BarGaugeDisplayMode.Basic)
        .orientation(VizOrientation.Horizontal)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['sum']))
        .height(10)
        .span(12)
        .withTarget(
          new InfluxQueryBuilder(
            `SELECT count("alert_id") FROM ${ALERTS} WHERE "rule" =~ ${PRESENCE_RULES} AND "event" = 'firing' AND ${IN_ZONE} AND $timeFilter GROUP BY "key"`,
          )
            .refId('A')
            .alias('$tag_key'),
        ),
    );
}

export function alertsBoard(): DashboardBuilder {
  return influxDashboard('Alerts')
    .uid('floorwatch-alerts')
    .description('Alerts of the floor and the hub. Acknowledge and silence them in the hub (API or floor page).')
    .tags(['floorwatch', 'alerts'])
    .time({ from: 'now-24h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .readonly()
    .withVariable(zoneVariable())
    .annotation(
      new AnnotationQueryBuilder()
        .name('Alerts fired')
        .datasource(INFLUX)
        .enable(true)
        .iconColor('red')
        .target(
          new InfluxQueryBuilder(
            `SELECT "summary" AS "text", "rule", "severity" FROM ${ALERTS} WHERE "event" = 'firing' AND ${IN_ZONE} AND $timeFilter`,
          )
            .refId('Anno')
            .table(),
        ),
    )
    .withPanel(
      tableOf(
        'Open alerts',
        'Every alert whose latest transition is not resolved, whatever the time range.',
        openAlerts(IN_ZONE, OPEN_COLUMNS),
      )
        .id(1)
        .span(24),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .id(2)
        .title('Alerts fired')
        .description('Alerts that started firing, per severity.')
        .legend(legend())
        .height(8)
        .span(24)
        .withTarget(
          new InfluxQueryBuilder(
            `SELECT count("alert_id") FROM ${ALERTS} WHERE "event" = 'firing' AND ${IN_ZONE} AND $timeFilter GROUP BY time($__interval), "severity" fill(none)`,
          )
            .refId('A')
            .alias('$tag_severity'),
        ),
    )
    .withPanel(
      tableOf(
        'Alert history',
        'Every transition in the time range: firing, severity, acknowledged, escalated, resolved.',
        `SELECT "key", "event", "severity", "summary" FROM ${ALERTS} WHERE ${IN_ZONE} AND $timeFilter`,
      )
        .id(3)
        .span(24),
    );
}
