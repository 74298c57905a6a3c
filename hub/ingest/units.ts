// Units a device may send for each canonical metric, and how to bring them to the canonical one.
// Maps, not object literals: metric and unit names come from devices, and "constructor" or
// "toString" must find nothing rather than something on Object.prototype.

type Convert = (value: number) => number;
const same: Convert = (v) => v;
const fromKelvin: Convert = (v) => v - 273.15;
const fromFahrenheit: Convert = (v) => ((v - 32) * 5) / 9;
const fromLitresPerSecond: Convert = (v) => v * 3.6;

const ACCEPTED: ReadonlyMap<string, ReadonlyMap<string, Convert>> = new Map([
  [
    'temperature',
    new Map([
      ['Cel', same],
      ['°C', same],
      ['degC', same],
      ['K', fromKelvin],
      ['degF', fromFahrenheit],
      ['°F', fromFahrenheit],
    ]),
  ],
  [
    'dew_point',
    new Map([
      ['Cel', same],
      ['°C', same],
      ['degC', same],
      ['K', fromKelvin],
    ]),
  ],
  [
    'humidity',
    new Map([
      ['%RH', same],
      ['%', same],
      ['/', (v) => v * 100],
    ]),
  ],
  [
    'co2',
    new Map([
      ['ppm', same],
      ['ppb', (v) => v / 1000],
      ['/', (v) => v * 1e6],
    ]),
  ],
  [
    'fresh_air',
    new Map([
      ['m3/h/person', same],
      ['m3/h/p', same],
      ['l/s/person', fromLitresPerSecond],
      ['L/s/person', fromLitresPerSecond],
    ]),
  ],
  [
    'air_speed',
    new Map([
      ['m/s', same],
      ['km/h', (v) => v / 3.6],
    ]),
  ],
  [
    'noise',
    new Map([
      ['dB(A)', same],
      ['dBA', same],
    ]),
  ],
  [
    'noise_peak',
    new Map([
      ['dB(C)', same],
      ['dBC', same],
    ]),
  ],
]);

export type UnitResult = { ok: true; value: number } | { ok: false; accepted: string[] };

/** Canonical value of `value` in `unit`; no unit means the canonical one. Unknown metrics pass through. */
export function toCanonical(metric: string, value: number, unit: string | undefined): UnitResult {
  const table = ACCEPTED.get(metric);
  if (!table || unit === undefined) return { ok: true, value };
  const convert = table.get(unit);
  if (!convert) return { ok: false, accepted: [...table.keys()] };
  return { ok: true, value: convert(value) };
}
