// Reading the configuration at start: the file FLOORWATCH_CONFIG names, if any, then the
// variables over it, then the checks. Every problem found is reported at once, each saying where
// its value came from.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, describeIssue } from './errors.ts';
import { configSchema, type Config } from './schema.ts';
import { fieldsAt, nearest } from './suggest.ts';
import { applyVariables, variableFor, variableNames } from './variables.ts';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Relative paths in the config (data_dir) resolve against this; default the process's cwd. */
  cwd?: string;
}

interface SettingsFile {
  settings: Record<string, unknown>;
  /** The line of the file a field is on (the nearest enclosing field's, for one that is missing). */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/** The settings in a YAML file, as data; a ConfigError when it cannot be read or is not a mapping. */
function readSettingsFile(file: string, cwd: string): SettingsFile {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new ConfigError([`FLOORWATCH_CONFIG names ${file}, which cannot be read: ${(err as Error).message}`]);
  }
  let parsed: unknown;
  const lines = new LineCounter();
  let doc: Document;
  try {
    // Warnings (unknown tags or directives) mean the file does not say what its author thinks.
    doc = parseDocument(text, { logLevel: 'silent', lineCounter: lines });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw problem;
    parsed = doc.toJS();
  } catch (err) {
    throw new ConfigError([`${file} is not valid YAML: ${(err as Error).message}`]);
  }
  // The line of the field's key, not of its value: a section's value starts on the next line.
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n > 0; n--) {
      const parent: unknown = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
      const key = path[n - 1];
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined;
      const node: unknown = pair ? pair.key : doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  if (parsed === null || parsed === undefined) return { settings: {}, lineOf };
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError([`${file} must hold a mapping of settings at the top level`]);
  const forbidden = prototypeKeys(parsed, []);
  if (forbidden.length > 0)
    throw new ConfigError(
      forbidden.map((path) => `${path} [in ${file}]: "__proto__" is not a name floorwatch.yaml can use; remove it`),
    );
  return { settings: parsed as Record<string, unknown>, lineOf };
}

/**
 * Where the file uses the key "__proto__". A mapping keyed by names the site chooses (opening
 * hours, serial devices) would drop it without a word when checked; it is refused here, by path.
 * Each mapping is looked at once: YAML aliases can make a document refer to itself.
 */
function prototypeKeys(value: unknown, path: (string | number)[], seen = new Set<object>()): string[] {
  if (typeof value !== 'object' || value === null || seen.has(value)) return [];
  seen.add(value);
  return Object.entries(value).flatMap(([key, inner]) =>
    key === '__proto__'
      ? [[...path, key].join('.')]
      : prototypeKeys(inner, [...path, Array.isArray(value) ? Number(key) : key], seen),
  );
}

/**
 * A field the schema does not know, one message per field so each names its own line or
 * variable, with the nearest valid name; never the whole section it sits in.
 */
function unknownField(
  path: readonly PropertyKey[],
  fromEnv: readonly string[],
  where: (path: readonly PropertyKey[]) => string,
): string {
  const parent = path.slice(0, -1);
  const key = String(path.at(-1));
  const siblings = fieldsAt(configSchema, parent);
  const envName = variableFor(fromEnv, path);
  if (envName) {
    const guess = nearest(envName, variableNames(parent, siblings));
    return `${envName} is not a variable floorwatch reads${guess ? `: did you mean ${guess}?` : ''} (it would set ${path.join('.')}, which does not exist)`;
  }
  const guess = nearest(key, siblings);
  const field = parent.length ? `${parent.join('.')}: ` : '';
  return `${field}unknown field "${key}"${guess ? `: did you mean "${guess}"?` : ': check the spelling'} [${where(path)}]`;
}

/** Reads, merges and checks the configuration. Throws ConfigError listing every problem found. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = env.FLOORWATCH_CONFIG;
  const read = file ? readSettingsFile(file, cwd) : undefined;
  const raw = read?.settings ?? {};
  const fromEnv = applyVariables(raw, env);
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    const where = (path: readonly PropertyKey[]): string => {
      const line = read?.lineOf(path);
      return line === undefined ? `in ${file}` : `in ${file}, line ${line}`;
    };
    const describe = (issue: z.core.$ZodIssue): string[] => {
      if (issue.code === 'unrecognized_keys')
        return issue.keys.map((key) => unknownField([...issue.path, key], fromEnv, where));
      const envName = variableFor(fromEnv, issue.path);
      if (envName) return [describeIssue(issue, `from ${envName}`)];
      return [describeIssue(issue, !file || !read ? 'from defaults' : where(issue.path))];
    };
    throw new ConfigError(result.error.issues.flatMap(describe));
  }
  const config = result.data;
  config.data_dir = isAbsolute(config.data_dir) ? config.data_dir : resolve(cwd, config.data_dir);
  if (config.layout?.background !== undefined) config.layout.background = resolve(cwd, config.layout.background);
  const tls = config.security.tls;
  if (tls) {
    tls.cert = resolve(cwd, tls.cert);
    tls.key = resolve(cwd, tls.key);
    if (tls.ca !== undefined) tls.ca = resolve(cwd, tls.ca);
  }
  return config;
}
