// Noise exposure per position over a shift (ISO 9612, GBZ 2.2): the energy dose so far, and the
// projection to the end of the shift at the last hour's LAeq. A room meter is a proxy for an
// agent's ear; a headset-referenced measurement is the real thing. Pure.
import { lex8h } from './window.ts';

export interface ExposureState {
  shiftStart: number;
  /** Σ tᵢ·10^(Lᵢ/10), tᵢ in ms. */
  energyMs: number;
  /** Event time of the last level counted. */
  last?: number;
}

/** A level counts for the time since the previous one, at most this long (a sensor that was off). */
const MAX_GAP_MS = 5 * 60_000;

/** Shift start times as "HH:MM" → minutes after local midnight, sorted. */
export function parseShifts(starts: readonly string[]): number[] {
  return starts
    .map((s) => {
      const [h, m] = s.split(':').map(Number);
      return (h ?? 0) * 60 + (m ?? 0);
    })
    .sort((a, b) => a - b);
}

/** The shift holding `ts` in local time: [start, end). */
export function shiftAt(ts: number, shifts: readonly number[]): { start: number; end: number } {
  const day = new Date(ts);
  const starts: number[] = [];
  for (const offset of [-1, 0, 1]) {
    for (const minutes of shifts)
      starts.push(new Date(day.getFullYear(), day.getMonth(), day.getDate() + offset, 0, minutes).getTime());
  }
  starts.sort((a, b) => a - b);
  const i = starts.findLastIndex((s) => s <= ts);
  return { start: starts[i]!, end: starts[i + 1]! };
}

/** Adds one level (dB(A)) at event time `ts`; a new shift starts a new dose. */
export function addLevel(
  state: ExposureState | undefined,
  ts: number,
  level: number,
  shifts: readonly number[],
): ExposureState {
  const { start } = shiftAt(ts, shifts);
  const s: ExposureState = state && state.shiftStart === start ? state : { shiftStart: start, energyMs: 0 };
  if (s.last !== undefined && ts <= s.last) return s;
  const dt = Math.min(ts - Math.max(s.last ?? ts, start), MAX_GAP_MS);
  s.energyMs += dt * 10 ** (level / 10);
  s.last = ts;
  return s;
}

/** LEX,8h projected to the end of the shift if the rest of it sounds like the last hour. */
export function projectedLex8h(
  state: ExposureState,
  ts: number,
  shifts: readonly number[],
  lastHourLaeq: number,
): number {
  const { end } = shiftAt(ts, shifts);
  return lex8h(state.energyMs + Math.max(0, end - ts) * 10 ** (lastHourLaeq / 10));
}
