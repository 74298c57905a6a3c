// Units a device may send for each canonical metric, and how to bring them to the canonical one.

type Convert = (value: number) => number;
const same: Convert = (v) => v;

const ACCEPTED: Record<string, Record<string, Convert>> = {
  temperature: { Cel: same, '°C': same, degC: same, K: (v) => v - 273.15, degF: (v) => ((v - 32) * 5) / 9, '°F': (v) => ((v - 32) * 5) / 9 },
  dew_point: { Cel: same, '°C': same, degC: same, K: (v) => v - 273.15 },
  humidity: { '%RH': same, '%': same, '/': (v) => v * 100 },
  co2: { ppm: same, ppb: (v) => v / 1000, '/': (v) => v * 1e6 },
  fresh_air: { 'm3/h/person': same, 'm3/h/p': same, 'l/s/person': (v) => v * 3.6, 'L/s/person': (v) => v * 3.6 },
  air_speed: { 'm/s': same, 'km/h': (v) => v / 3.6 },
  noise: { 'dB(A)': same, dBA: same },
  noise_peak: { 'dB(C)': same, dBC: same },
};

export type UnitResult = { ok: true; value: number } | { ok: false; accepted: string[] };

/** Canonical value of `value` in `unit`; no unit means the canonical one. Unknown metrics pass through. */
export function toCanonical(metric: string, value: number, unit: string | undefined): UnitResult {
  const table = ACCEPTED[metric];
  if (!table || unit === undefined) return { ok: true, value };
  const convert = table[unit];
  if (!convert) return { ok: false, accepted: Object.keys(table) };
  return { ok: true, value: convert(value) };
}
