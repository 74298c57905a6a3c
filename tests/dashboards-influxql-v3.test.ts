// The dashboards' InfluxQL stays within what InfluxDB 3 answers as 1.x does (1.x runs every query
// in dashboards.test.ts): SELECTs name database and policy, metaqueries neither, and no statement,
// clause or function InfluxDB 3 lacks.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_DIR } from '../dashboards/generate.ts';
import { influxql3Problems } from './support/influxql-v3.ts';

const DIR = join(import.meta.dirname, '..', 'dashboards', DASHBOARD_DIR);
const QUALIFIED = /^"\$database"\."(?:long_term|alert_history)"\./;

interface Query {
  where: string;
  query: string;
}

/** Every InfluxQL text of a dashboard file: panel targets, annotations and variables. */
function influxQueries(file: string): Query[] {
  const found: Query[] = [];
  const visit = (node: unknown, where: string): void => {
    if (Array.isArray(node)) node.forEach((n, i) => visit(n, `${where}[${i}]`));
    else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      const source = o['datasource'] as { type?: string } | undefined;
      if (typeof o['query'] === 'string' && source?.type === 'influxdb') found.push({ where, query: o['query'] });
      for (const [k, v] of Object.entries(o)) visit(v, `${where}.${k}`);
    }
  };
  visit(JSON.parse(readFileSync(join(DIR, file), 'utf8')), file);
  return found;
}

describe('the dashboards on InfluxDB 3', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'floorwatch-hub.json');

  it('ask only what its InfluxQL answers, naming the database and policy of every SELECT', () => {
    const queries = files.flatMap(influxQueries);
    expect(queries.length).toBeGreaterThan(40);
    const problems = queries.flatMap(({ where, query }) =>
      influxql3Problems(query, QUALIFIED).map((p) => `${where}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  it('the check finds what InfluxDB 3 would not answer', () => {
    const check = (q: string) => influxql3Problems(q, QUALIFIED);
    expect(check('SELECT mean("mean_value") FROM "long_term"."noise" WHERE $timeFilter')).toEqual([
      'FROM "long_term"."noise" does not name the database and policy',
    ]);
    expect(check('SHOW TAG VALUES FROM "$database"."long_term"."noise" WITH KEY = "device"')).toEqual([
      'a metaquery names a database or policy: "$database"."long_term"."noise"',
    ]);
    expect(check('SHOW TAG VALUES ON "floorwatch" WITH KEY = "zone"')).toEqual([
      'a metaquery names its database with ON',
    ]);
    expect(check('SELECT holt_winters(mean("mean_value"), 5, 1) FROM "$database"."long_term"."co2" SLIMIT 2')).toEqual([
      'uses SLIMIT',
      'uses a technical analysis function',
    ]);
    expect(check('SELECT * FROM (SELECT last("x") FROM "$database"."alert_history"."alerts") WHERE "e" = 1')).toEqual(
      [],
    );
  });
});
