// Readings worked out from others of the same moment: the dew point from temperature and relative
// humidity, so a server room's dew-point requirement is judged with ordinary sensors.
import type { Reading } from '../domain/reading.ts';

// Magnus formula with Sonntag's constants, good to ±0.35 °C from −45 to 60 °C.
const A = 17.62;
const B = 243.12;

export function dewPoint(temperature: number, humidity: number): number {
  const gamma = Math.log(humidity / 100) + (A * temperature) / (B + temperature);
  return (B * gamma) / (A - gamma);
}

/** Dew-point readings for each (device, ts) that has temperature and humidity but no dew point. */
export function derivedReadings(readings: readonly Reading[]): Reading[] {
  // Most messages carry neither: no map for them.
  if (!readings.some((r) => r.metric === 'humidity')) return [];
  const byMoment = new Map<string, { temperature?: Reading; humidity?: Reading; dew?: boolean }>();
  for (const r of readings) {
    if (r.metric !== 'temperature' && r.metric !== 'humidity' && r.metric !== 'dew_point') continue;
    const key = `${r.device}\u0000${r.ts}`;
    const moment = byMoment.get(key) ?? {};
    if (r.metric === 'dew_point') moment.dew = true;
    else moment[r.metric] = r;
    byMoment.set(key, moment);
  }
  const derived: Reading[] = [];
  for (const { temperature: t, humidity: h, dew } of byMoment.values()) {
    // At 0 %RH there is no dew point to speak of.
    if (dew || !t || !h || h.value <= 0) continue;
    derived.push({
      device: t.device,
      metric: 'dew_point',
      value: Math.round(dewPoint(t.value, h.value) * 100) / 100,
      ts: t.ts,
      zone: t.zone,
      ...(t.seq !== undefined && { seq: t.seq }),
    });
  }
  return derived;
}
