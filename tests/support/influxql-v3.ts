// What InfluxDB 3's InfluxQL does not take, from its documented feature support
// (docs.influxdata.com/influxdb3/core/reference/influxql/feature-support/) and how its v1 /query
// finds a database: "db"."policy" in a SELECT's FROM is read from database "db/policy", while a
// metaquery's FROM may name neither database nor policy. No InfluxDB 3 runs here, so queries are
// checked against these rules as text.

const UNSUPPORTED: ReadonlyArray<[RegExp, string]> = [
  [/\bSLIMIT\b/i, 'SLIMIT'],
  [/\bSOFFSET\b/i, 'SOFFSET'],
  [/\bINTO\b/i, 'SELECT INTO'],
  [/\bSAMPLE\s*\(/i, 'SAMPLE()'],
  [
    /\b(?:CHANDE_MOMENTUM_OSCILLATOR|DOUBLE_EXPONENTIAL_MOVING_AVERAGE|EXPONENTIAL_MOVING_AVERAGE|HOLT_WINTERS(?:_WITH_FIT)?|KAUFMANS_EFFICIENCY_RATIO|KAUFMANS_ADAPTIVE_MOVING_AVERAGE|RELATIVE_STRENGTH_INDEX|TRIPLE_EXPONENTIAL_MOVING_AVERAGE|TRIPLE_EXPONENTIAL_DERIVATIVE)\s*\(/i,
    'a technical analysis function',
  ],
  [/\bSHOW\s+(?:SERIES|DATABASES)\b/i, 'SHOW SERIES / SHOW DATABASES'],
  [/\bCARDINALITY\b/i, 'a cardinality metaquery'],
  [/^\s*(?:DELETE|DROP|CREATE|ALTER)\b/i, 'a statement that changes the schema or deletes'],
];

/** A FROM's target: a subquery, or a measurement as far as the next space. */
const FROM = /(?<!\$)\bFROM\s+(\(|\S+)/gi;

/**
 * Why InfluxDB 3 would not answer this InfluxQL as InfluxDB 1.x does; empty when it would.
 * `qualifier` is how a SELECT names database and policy, e.g. /^"floorwatch"\."(raw|long_term)"\./.
 */
export function influxql3Problems(query: string, qualifier: RegExp): string[] {
  const problems = UNSUPPORTED.filter(([pattern]) => pattern.test(query)).map(([, what]) => `uses ${what}`);
  const show = /^\s*SHOW\b/i.test(query);
  if (show && /\bON\s/i.test(query)) problems.push('a metaquery names its database with ON');
  for (const [, target] of query.matchAll(FROM)) {
    if (target === '(') continue;
    const qualified = qualifier.test(target!);
    if (show && /^(?:"[^"]*"|\w+)\./.test(target!)) problems.push(`a metaquery names a database or policy: ${target}`);
    if (!show && !qualified) problems.push(`FROM ${target} does not name the database and policy`);
  }
  return problems;
}
