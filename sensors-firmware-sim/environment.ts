// The physics of one zone: people arrive and leave with the shifts, and the room's air follows
// with first-order dynamics. The formulas are deliberately small; each is written next to its
// numbers below and in sensors-firmware-sim/README.md.
//
// Every state variable x relaxes towards a target x* with time constant τ, integrated exactly
// over a step dt with constant inputs:  x(t+dt) = x* + (x(t) − x*)·e^(−dt/τ).
import type { SiteSpec, ZoneSpec } from './fleet.ts';
import type { Season } from './fleet-values.ts';
import type { Timeline } from './scenarios.ts';

/** True values in the room; a sensor adds its own noise and rounding (sensor.ts). */
export interface Conditions {
  people: number;
  temperature: number;
  humidity: number;
  co2: number;
  fresh_air: number;
  air_speed: number;
  noise: number;
}

/** Outside air delivered per design seat, m³/h: above the 30 m³/(h·person) minimum. */
const FRESH_AIR_PER_SEAT = 36;
/** Room volume per seat, m³ (about 6 m² at 3 m): with 36 m³/h per seat, 2 air changes an hour. */
const VOLUME_PER_SEAT = 18;
/** CO₂ a seated adult breathes out, m³/h (about 5 ml/s). */
const CO2_PER_PERSON = 0.018;
/** Share of seats filled at the height of a shift, and the ramp at its start and end. */
const PEAK_PRESENCE = 0.9;
const RAMP_MS = 30 * 60_000;
/** HVAC holds temperature with this time constant; without it the building drifts slowly. */
const TAU_HVAC_MS = 20 * 60_000;
const TAU_DRIFT_MS = 90 * 60_000;
const TAU_SERVER_COOLING_MS = 5 * 60_000;
const TAU_SERVER_FAILED_MS = 20 * 60_000;
/** Where a server room's inlet air heads without cooling, °C. */
const SERVER_ROOM_NO_COOLING = 42;
/** Saturation vapour pressure rises about 6 % per °C, so at constant moisture RH falls that much. */
const RH_PER_DEGREE = 0.06;
/** Integration step: occupancy changes within a shift ramp are followed at this resolution. */
const STEP_MS = 60_000;

const SETPOINT: Record<Season, number> = { winter: 21.5, summer: 24, transition: 23 };
/** Where an office heads without HVAC: the season's outdoor conditions plus the building's inertia. */
const FREE_RUNNING: Record<Season, number> = { winter: 15, summer: 31, transition: 27 };
const BASE_HUMIDITY: Record<Season, number> = { winter: 35, summer: 52, transition: 45 };

/** Call-floor and quiet-room acoustics, dB(A): background with HVAC running, and one talker's share at the sensor. */
const ACOUSTICS = {
  call_floor: { background: 40, talker: 48 },
  quiet_room: { background: 28, talker: 30 },
  server_room: { background: 72, talker: 0 },
} as const;
/** Share of the people present who are talking at any moment. */
const TALKING = 0.5;

/** Northern-hemisphere season of a date. */
export function seasonOf(site: SiteSpec, t: number): Season {
  if (site.season !== 'auto') return site.season;
  const month = new Date(t).getUTCMonth() + 1;
  if (month >= 11 || month <= 3) return 'winter';
  if (month >= 6 && month <= 9) return 'summer';
  return 'transition';
}

function utcOffsetMs(text: string): number {
  const sign = text.startsWith('-') ? -1 : 1;
  const [h, m] = text.slice(1).split(':').map(Number);
  return sign * ((h ?? 0) * 60 + (m ?? 0)) * 60_000;
}

function minutesOf(text: string): number {
  const [h, m] = text.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** Share of seats filled at time t: ramps up over the first 30 minutes of a shift and down over its last 30. */
export function presence(zone: ZoneSpec, site: SiteSpec, t: number): number {
  const local = t + utcOffsetMs(site.utc_offset);
  const dayStart = Math.floor(local / 86_400_000) * 86_400_000;
  let best = 0;
  for (const shift of zone.shifts) {
    const start = minutesOf(shift.start) * 60_000;
    let end = minutesOf(shift.end) * 60_000;
    if (end <= start) end += 86_400_000;
    // A night shift that began yesterday is still running this morning.
    for (const day of [dayStart - 86_400_000, dayStart]) {
      const from = day + start;
      const to = day + end;
      if (local < from || local >= to) continue;
      const ramp = Math.min(1, (local - from) / RAMP_MS, (to - local) / RAMP_MS);
      best = Math.max(best, PEAK_PRESENCE * ramp);
    }
  }
  return best;
}

function relax(x: number, target: number, dt: number, tau: number): number {
  return target + (x - target) * Math.exp(-dt / tau);
}

export class ZoneEnvironment {
  private t: number;
  private temperature: number;
  /** Moisture, as the RH it would give at the setpoint. */
  private moisture: number;
  private co2: number;

  constructor(
    readonly zone: ZoneSpec,
    private readonly site: SiteSpec,
    private readonly timeline: Timeline,
    start: number,
  ) {
    this.t = start;
    // Starts in the steady state of its current occupancy, so a run does not begin with a transient.
    const season = seasonOf(site, start);
    const fill = zone.seats > 0 ? this.people(start) / zone.seats : 0;
    this.temperature = this.setback(start) ?? this.setpoint(season) + (zone.type === 'server_room' ? 0 : fill);
    this.moisture = zone.type === 'server_room' ? 45 : BASE_HUMIDITY[season] + 6 * fill;
    this.co2 = this.co2Target(start);
  }

  private setpoint(season: Season): number {
    return this.zone.setpoint ?? (this.zone.type === 'server_room' ? 22 : SETPOINT[season]);
  }

  /** The set-back temperature the HVAC holds at t (its set-back hours, or stuck in set-back), if any. */
  private setback(t: number): number | undefined {
    const setback = this.zone.setback;
    if (!setback) return undefined;
    if (this.timeline.active('setback_stuck', this.zone.id, t)) return setback.temperature;
    const minute = Math.floor((t + utcOffsetMs(this.site.utc_offset)) / 60_000) % 1440;
    const from = minutesOf(setback.from);
    const to = minutesOf(setback.to);
    const inside = from <= to ? minute >= from && minute < to : minute >= from || minute < to;
    return inside ? setback.temperature : undefined;
  }

  private people(t: number): number {
    return this.zone.seats * presence(this.zone, this.site, t);
  }

  /** Outside air delivered, m³/h: 10 % (leakage) while the HVAC has failed. */
  private airflow(t: number): number {
    const design = FRESH_AIR_PER_SEAT * Math.max(this.zone.seats, 1);
    return this.timeline.active('hvac_failure', this.zone.id, t) ? design * 0.1 : design;
  }

  /** Steady state CO₂ = outdoor + generation / airflow (ppm). */
  private co2Target(t: number): number {
    return this.site.outdoor_co2 + (this.people(t) * CO2_PER_PERSON * 1e6) / this.airflow(t);
  }

  private step(t: number, dt: number): void {
    const season = seasonOf(this.site, t);
    const people = this.people(t);
    const fill = this.zone.seats > 0 ? people / this.zone.seats : 0;
    // CO₂: τ = volume / airflow.
    const volume = VOLUME_PER_SEAT * Math.max(this.zone.seats, 1);
    this.co2 = relax(this.co2, this.co2Target(t), dt, (volume / this.airflow(t)) * 3_600_000);
    if (this.zone.type === 'server_room') {
      const failed = this.timeline.active('cooling_failure', this.zone.id, t) !== undefined;
      this.temperature = relax(
        this.temperature,
        failed ? SERVER_ROOM_NO_COOLING : this.setpoint(season),
        dt,
        failed ? TAU_SERVER_FAILED_MS : TAU_SERVER_COOLING_MS,
      );
      return;
    }
    // People warm the room by up to 1 °C above the setpoint (HVAC working), 2 °C without it.
    const failed = this.timeline.active('hvac_failure', this.zone.id, t) !== undefined;
    const setback = this.setback(t);
    const target = failed ? FREE_RUNNING[season] + 2 * fill : (setback ?? this.setpoint(season) + fill);
    // Set back, the HVAC lets the building cool at its own slow pace; it heats back at its usual one.
    const drifting = failed || (setback !== undefined && this.temperature > setback);
    this.temperature = relax(this.temperature, target, dt, drifting ? TAU_DRIFT_MS : TAU_HVAC_MS);
    // People add moisture; ventilation takes it away (6 %RH at full occupancy, up to 3× that on low airflow).
    const ventilation = Math.min(3, (FRESH_AIR_PER_SEAT * Math.max(this.zone.seats, 1)) / this.airflow(t));
    this.moisture = relax(this.moisture, BASE_HUMIDITY[season] + 6 * fill * ventilation, dt, TAU_HVAC_MS);
  }

  /** The room at time t; time only moves forward (an earlier t gives the latest state). */
  at(t: number): Conditions {
    while (this.t < t) {
      const dt = Math.min(STEP_MS, t - this.t);
      this.step(this.t + dt, dt);
      this.t += dt;
    }
    const season = seasonOf(this.site, this.t);
    const people = this.people(this.t);
    const acoustics = ACOUSTICS[this.zone.type];
    const noisy = this.timeline.active('noisy_shift', this.zone.id, this.t);
    const talker = acoustics.talker + (noisy?.type === 'noisy_shift' ? noisy.extra_db : 0);
    const talkers = people * TALKING;
    // Sound levels add as energies: L = 10·log10(10^(background/10) + talkers·10^(talker/10)).
    const noise = 10 * Math.log10(10 ** (acoustics.background / 10) + (talker > 0 ? talkers * 10 ** (talker / 10) : 0));
    const hvacFailed = this.timeline.active('hvac_failure', this.zone.id, this.t) !== undefined;
    return {
      people,
      temperature: this.temperature,
      humidity: Math.min(100, this.moisture * Math.exp(-RH_PER_DEGREE * (this.temperature - this.setpoint(season)))),
      co2: this.co2,
      // Per design seat, as a BMS shows it.
      fresh_air: this.airflow(this.t) / Math.max(this.zone.seats, 1),
      air_speed: hvacFailed ? 0.03 : 0.12,
      noise,
    };
  }
}
