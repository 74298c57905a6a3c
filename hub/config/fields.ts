// The kinds of value the configuration's sections share, each refusing bad input in words a
// facilities engineer can act on. Environment variables arrive as text, so numbers and flags
// also accept their written form.
import { z } from 'zod';
import { ID_PATTERN } from '../domain/reading.ts';
import { originOf } from '../security/origins.ts';
import { parseDuration } from './duration.ts';

export const id = z.string().regex(ID_PATTERN, {
  error: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
});

export const duration = z.string().refine((v) => parseDuration(v) !== undefined, {
  error: 'must be a duration such as "90s", "15m", "12h", "30d" or "2w"',
});

/** A whole number, also when it arrives as text from an environment variable. */
export function integer(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .union(
      [
        z.number(),
        z
          .string()
          .trim()
          .regex(/^-?\d+$/)
          .transform(Number),
      ],
      { error: message },
    )
    .pipe(z.number().int({ error: message }).min(min, { error: message }).max(max, { error: message }));
}

export const port = integer(0, 65535);

/** A web page's origin, as a browser sends it: scheme, host and port, nothing after. */
export const origin = z.string().transform((value, ctx) => {
  const normalised = originOf(value);
  if (normalised !== undefined) return normalised;
  ctx.addIssue({
    code: 'custom',
    message:
      'must be an origin: http:// or https://, a host name and an optional port, with no path (e.g. "https://grafana.example.com:3000")',
    input: value,
  });
  return z.NEVER;
});

// Environment variables arrive as text; "false" must not coerce to true.
export const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')], {
  error: 'must be true or false',
});

/** A number, also when it arrives as text from an environment variable. */
export const decimal = z.union(
  [
    z.number(),
    z
      .string()
      .trim()
      .regex(/^-?\d+(\.\d+)?$/)
      .transform(Number),
  ],
  { error: 'must be a number' },
);

/** An MQTT topic filter: "+" as a whole level, "#" only as the last. */
export const topicFilter = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (t) =>
      t
        .split('/')
        .every(
          (level, i, all) =>
            (!level.includes('#') || (level === '#' && i === all.length - 1)) &&
            (!level.includes('+') || level === '+'),
        ),
    { error: 'must be an MQTT topic filter: "+" as a whole level, "#" only as the last level' },
  );

/** Each name once: a later entry with a name already listed is a problem at its own place. Returns the names. */
export function listedOnce(
  names: readonly string[],
  what: string,
  path: (i: number) => (string | number)[],
  ctx: z.core.$RefinementCtx,
): Set<string> {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (seen.has(name))
      ctx.addIssue({ code: 'custom', path: path(i), message: `${what} "${name}" is listed twice`, input: name });
    seen.add(name);
  });
  return seen;
}

/** The words for a reference to something the file does not list. */
export function notListed(what: string, name: string, under: string, known: ReadonlySet<string>): string {
  return `names ${what} "${name}", which is not under ${under} (known: ${[...known].join(', ') || 'none'})`;
}
