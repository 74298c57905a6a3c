// How a configuration problem is worded: the field, the value found, what is allowed and where the
// value came from. The simulator's fleet file words its problems the same way.
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `floorwatch cannot start: the configuration has ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'ConfigError';
  }
}

/** A value as an error shows it: YAML aliases can make it contain itself, and it can be long. */
function shownValue(value: unknown): string {
  let text: string;
  try {
    // undefined has no JSON.
    text = value === undefined ? 'nothing' : JSON.stringify(value);
  } catch {
    return 'a value that contains itself (a YAML alias loop)';
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function describeIssue(issue: z.core.$ZodIssue, source: string): string {
  const field = issue.path.length ? issue.path.join('.') : '(top level)';
  // An unknown field's input is the whole section around it: the keys say enough.
  const shown =
    'input' in issue && issue.input !== undefined && issue.code !== 'unrecognized_keys'
      ? ` (found ${shownValue(issue.input)})`
      : '';
  let message = issue.message;
  if (issue.code === 'unrecognized_keys')
    message = `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}: check the spelling`;
  if (issue.code === 'invalid_value')
    message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return `${field}${shown}: ${message} [${source}]`;
}
