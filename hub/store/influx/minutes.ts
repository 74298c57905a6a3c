// The 1-minute aggregates in InfluxDB: the query that computes them from the raw policy, the points
// that keep them, and reading them back. Pure.
//
// A minute is a point of the metric's measurement in the long-term policy, tagged as the raw
// readings are (device, zone, unknown), fields mean_value, min_value, max_value, count and, for
// decibel metrics, mean_energy: the names the continuous queries of earlier releases wrote, so
// the minutes they left are read with the hub's (count 1 and min = mean where they lack them).
import { METRICS } from '../../domain/reading.ts';
import { DECIBEL_METRICS, MINUTE_MS, type MinuteAggregate } from '../minutes.ts';
import { cell, timeOf, type InfluxResult, type Params, type Statement, type Where } from './influxql.ts';
import type { FieldValue, Point } from './line-protocol.ts';

/** Devices per roll-up query: each is a bound condition. */
export const DEVICES_PER_QUERY = 200;

/** Each minute of [from, to) of these devices' metric, from the raw readings; empty minutes left out. */
export function rollUpQuery(
  raw: string,
  metric: string,
  devices: readonly string[],
  from: number,
  to: number,
): Statement {
  const params: Params = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  const anyDevice = devices.map((d, i) => {
    params[`d${i}`] = d;
    return `"device" = $d${i}`;
  });
  const energy = DECIBEL_METRICS.has(metric) ? ', mean("energy") AS "mean_energy"' : '';
  return {
    q:
      `SELECT mean("value") AS "mean_value", min("value") AS "min_value", max("value") AS "max_value", ` +
      `count("value") AS "count"${energy} FROM ${raw} WHERE time >= $from AND time < $to AND (${anyDevice.join(' OR ')}) ` +
      `GROUP BY time(${MINUTE_MS}ms), "device", "zone", "unknown" fill(none)`,
    params,
  };
}

/** The long-term minutes of a device or zone; with `since`, those from that time on. */
export function minutesQuery(longTerm: string, scope: Where, since?: number): Statement {
  const where = since === undefined ? scope.where : `${scope.where} AND time >= $since`;
  return {
    q: `SELECT "mean_value", "min_value", "max_value", "count", "mean_energy" FROM ${longTerm} WHERE ${where} GROUP BY "device", "zone"`,
    params: since === undefined ? scope.params : { ...scope.params, since: new Date(since).toISOString() },
  };
}

/**
 * The time of the n-th newest (or, `oldest`, the oldest) minute of a device or zone, its devices
 * taken together: not grouped, so a zone of 200 devices is not read 200 times over to find it.
 */
export function nthMinuteQuery(longTerm: string, scope: Where, n: number, order: 'newest' | 'oldest'): Statement {
  return {
    q: `SELECT "mean_value" FROM ${longTerm} WHERE ${scope.where} ORDER BY time ${order === 'newest' ? 'DESC' : 'ASC'} LIMIT 1 OFFSET $offset`,
    params: { ...scope.params, offset: n - 1 },
  };
}

/** Minutes from an answer of rollUpQuery or minutesQuery; a row without a numeric mean is none. */
export function minuteRows(results: readonly InfluxResult[], metric: string): MinuteAggregate[] {
  const out: MinuteAggregate[] = [];
  for (const series of results[0]?.series ?? []) {
    const device = series.tags?.['device'];
    if (device === undefined || device === '') continue;
    for (const row of series.values) {
      const mean = cell(series, row, 'mean_value');
      if (typeof mean !== 'number') continue;
      const number = (column: string, otherwise: number) => {
        const v = cell(series, row, column);
        return typeof v === 'number' ? v : otherwise;
      };
      const energy = cell(series, row, 'mean_energy');
      out.push({
        device,
        metric,
        zone: series.tags?.['zone'] ?? '',
        ts: timeOf(row, 'a minute row'),
        mean,
        min: number('min_value', mean),
        max: number('max_value', mean),
        count: number('count', 1),
        ...(typeof energy === 'number' && { energy }),
      });
    }
  }
  const order = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return out.sort((a, b) => a.ts - b.ts || order(a.device, b.device) || order(a.zone, b.zone));
}

/** A minute as a point of the long-term policy, tagged as its raw readings are. */
export function minutePoint(m: MinuteAggregate): Point {
  const tags: [string, string][] = [['device', m.device]];
  if (!METRICS.has(m.metric)) tags.push(['unknown', 'true']);
  if (m.zone !== '') tags.push(['zone', m.zone]);
  const fields: [string, FieldValue][] = [
    ['mean_value', m.mean],
    ['min_value', m.min],
    ['max_value', m.max],
    ['count', BigInt(m.count)],
  ];
  if (m.energy !== undefined && Number.isFinite(m.energy)) fields.push(['mean_energy', m.energy]);
  return { measurement: m.metric, tags, fields, time: m.ts };
}
