// Durations in config are written the way people say them: "90s", "15m", "30d", "2w".
const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/** Milliseconds in a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  return Number(amount) * (UNITS[unit ?? ''] ?? Number.NaN);
}

/** Duration fields as milliseconds; they were checked at load, so they always parse. */
export function ms(durationText: string): number {
  const value = parseDuration(durationText);
  if (value === undefined) throw new Error(`not a duration: ${durationText}`);
  return value;
}
