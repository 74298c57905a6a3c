// FLOORWATCH_* environment variables: each sets one field, over what the file says, so scripts and
// containers can change a setting without editing floorwatch.yaml.

/** The operational variables scripts and containers rely on, and where each lands in the config. */
const NAMED_VARIABLES = new Map<string, string[]>([
  ['FLOORWATCH_HTTP_PORT', ['http', 'port']],
  ['FLOORWATCH_MQTT_PORT', ['mqtt', 'port']],
  ['FLOORWATCH_BIND', ['bind']],
  ['FLOORWATCH_DATA_DIR', ['data_dir']],
  ['FLOORWATCH_INFLUX_URL', ['storage', 'influx_url']],
  ['FLOORWATCH_LOG_LEVEL', ['log_level']],
  ['FLOORWATCH_LOG_FORMAT', ['log_format']],
  ['FLOORWATCH_REDIS_URL', ['cluster', 'redis_url']],
  ['FLOORWATCH_NODE_ID', ['cluster', 'node_id']],
]);

/**
 * Every other scalar field is reachable as FLOORWATCH_<SECTION>__<FIELD>, e.g.
 * FLOORWATCH_INGEST__MAX_CLOCK_SKEW=2m. The double underscore separates levels, because field
 * names have single ones.
 */
function variablePath(name: string): string[] | undefined {
  const named = NAMED_VARIABLES.get(name);
  if (named) return named;
  if (!name.startsWith('FLOORWATCH_') || name === 'FLOORWATCH_CONFIG') return undefined;
  return name.slice('FLOORWATCH_'.length).toLowerCase().split('__');
}

function setPath(target: Record<string, unknown>, path: string[], value: string): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    // Own fields only: FLOORWATCH_CONSTRUCTOR__X must not walk into Object.prototype.
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value === '' ? undefined : value;
}

/** Sets each FLOORWATCH_* variable's value in the settings; returns the names of those set, in order. */
export function applyVariables(settings: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const applied: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    const path = variablePath(name);
    if (!path || value === undefined) continue;
    setPath(settings, path, value);
    applied.push(name);
  }
  return applied;
}

/** The first of these variables that sets the field at this path, so an error can name it. */
export function variableFor(names: readonly string[], path: readonly PropertyKey[]): string | undefined {
  return names.find((n) => variablePath(n)?.join('.') === path.join('.'));
}

/**
 * The variables that would set fields beside this path: the named ones and the
 * FLOORWATCH_<SECTION>__<FIELD> form of each field the schema allows there.
 */
export function variableNames(parent: readonly PropertyKey[], fields: readonly string[]): string[] {
  return [
    ...NAMED_VARIABLES.keys(),
    ...fields.map((f) => `FLOORWATCH_${[...parent, f].map(String).join('__').toUpperCase()}`),
  ];
}
