// What a sensor element reports of the room: the true value plus its own noise, rounded to its
// resolution. Figures are typical of NDIR CO₂, capacitive humidity and class 2 sound level sensors.
import type { Conditions } from './environment.ts';
import type { SensorMetric } from './fleet-values.ts';
import type { Random } from './random.ts';

interface ElementSpec {
  /** Standard deviation of one sample's error. */
  sigma: number;
  /** Resolution: readings are rounded to a multiple of it. */
  step: number;
}

const ELEMENTS: Record<SensorMetric, ElementSpec> = {
  temperature: { sigma: 0.1, step: 0.1 },
  humidity: { sigma: 0.8, step: 1 },
  co2: { sigma: 15, step: 1 },
  fresh_air: { sigma: 0.8, step: 0.1 },
  air_speed: { sigma: 0.015, step: 0.01 },
  noise: { sigma: 1.5, step: 0.1 },
  noise_peak: { sigma: 0, step: 0.1 },
};

/** A short LAeq's C-weighted peak sits about 18 dB above it, plus an occasional louder event. */
const PEAK_ABOVE_LAEQ = 18;

function quantise(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return Number((Math.round(value / step) * step).toFixed(decimals));
}

/** One sample of `metric` as the sensor reports it. */
export function sense(metric: SensorMetric, room: Conditions, random: Random): number {
  const element = ELEMENTS[metric];
  const truth = metric === 'noise_peak' ? room.noise + PEAK_ABOVE_LAEQ + Math.abs(random.gaussian()) * 4 : room[metric];
  const value = truth + element.sigma * random.gaussian();
  // Only temperature can go below zero.
  return quantise(metric === 'temperature' ? value : Math.max(0, value), element.step);
}
