// Reading the configuration at start: the file FLOORWATCH_CONFIG names, if any, then the
// variables over it, then the checks. Every problem found is reported at once, each saying where
// its value came from.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, describeIssue } from './errors.ts';
import { configSchema, type Config } from './schema.ts';
import { applyVariables, variableFor } from './variables.ts';

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
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n > 0; n--) {
      const node: unknown = doc.getIn(path.slice(0, n), true);
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
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const envName = variableFor(fromEnv, issue.path);
        if (envName) return describeIssue(issue, `from ${envName}`);
        if (!file || !read) return describeIssue(issue, 'from defaults');
        const line = read.lineOf(issue.path);
        return describeIssue(issue, line === undefined ? `in ${file}` : `in ${file}, line ${line}`);
      }),
    );
  }
  const config = result.data;
  config.data_dir = isAbsolute(config.data_dir) ? config.data_dir : resolve(cwd, config.data_dir);
  const tls = config.security.tls;
  if (tls) {
    tls.cert = resolve(cwd, tls.cert);
    tls.key = resolve(cwd, tls.key);
    if (tls.ca !== undefined) tls.ca = resolve(cwd, tls.ca);
  }
  return config;
}
