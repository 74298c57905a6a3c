// Rolling windows of one device's metric, kept as 10-second buckets so the state a rule needs (and
// persists) is bounded whatever the reporting rate; and the decibel arithmetic of ENVIRONMENT.md.

/** Window edges are this precise. */
export const BUCKET_MS = 10_000;

/** [start, count, sum, energy (Σ 10^(L/10)), min, max] */
export type Bucket = [number, number, number, number, number, number];

const EIGHT_HOURS_MS = 8 * 3_600_000;

/** Daily exposure from an energy dose Σ tᵢ·10^(Lᵢ/10) with tᵢ in ms: LEX,8h = 10·log10(Σ / 8 h). */
export function lex8h(energyMs: number): number {
  return energyMs <= 0 ? 0 : 10 * Math.log10(energyMs / EIGHT_HOURS_MS);
}

/** Dose at criterion 85 dB(A), 8 h, 3 dB exchange rate: 80 dB → 32 %, 85 → 100 %. */
export function dosePercent(lex: number): number {
  return 100 * 10 ** ((lex - 85) / 10);
}

interface Totals {
  count: number;
  sum: number;
  energy: number;
  min: number;
  max: number;
}

/** Read and overwritten by each call of Window.totals, never kept. */
const TOTALS: Totals = { count: 0, sum: 0, energy: 0, min: Infinity, max: -Infinity };

export class Window {
  constructor(
    /** Oldest data kept: the longest window any rule reads. */
    readonly spanMs: number,
    readonly buckets: Bucket[] = [],
  ) {}

  /** Adds a value; late values land in their own bucket, so later aggregates include them. */
  add(ts: number, value: number): void {
    const start = ts - (((ts % BUCKET_MS) + BUCKET_MS) % BUCKET_MS);
    let i = this.buckets.length;
    while (i > 0 && this.buckets[i - 1]![0] > start) i--;
    const b = this.buckets[i - 1];
    const energy = 10 ** (value / 10);
    if (b && b[0] === start) {
      b[1] += 1;
      b[2] += value;
      b[3] += energy;
      b[4] = Math.min(b[4], value);
      b[5] = Math.max(b[5], value);
    } else {
      this.buckets.splice(i, 0, [start, 1, value, energy, value, value]);
    }
    const newest = this.buckets.at(-1)![0];
    while (this.buckets.length > 0 && this.buckets[0]![0] <= newest - this.spanMs) this.buckets.shift();
  }

  /**
   * Totals of the buckets starting in (at − windowMs, at]: exact for readings on bucket
   * boundaries, else within 10 s. Newest first, stopping at the window's start (the buckets are in
   * order), into one object reused by every call: a rule reads a window for every reading.
   */
  private totals(at: number, windowMs: number): Totals {
    const t = TOTALS;
    t.count = 0;
    t.sum = 0;
    t.energy = 0;
    t.min = Infinity;
    t.max = -Infinity;
    const { buckets } = this;
    for (let i = buckets.length - 1; i >= 0; i--) {
      const b = buckets[i]!;
      if (b[0] <= at - windowMs) break;
      if (b[0] > at) continue;
      t.count += b[1];
      t.sum += b[2];
      t.energy += b[3];
      if (b[4] < t.min) t.min = b[4];
      if (b[5] > t.max) t.max = b[5];
    }
    return t;
  }

  mean(at: number, windowMs: number): number | undefined {
    const t = this.totals(at, windowMs);
    return t.count === 0 ? undefined : t.sum / t.count;
  }

  /** Energy average, LAeq = 10·log10(mean of 10^(L/10)): never the arithmetic mean of decibels. */
  laeq(at: number, windowMs: number): number | undefined {
    const t = this.totals(at, windowMs);
    return t.count === 0 ? undefined : 10 * Math.log10(t.energy / t.count);
  }

  max(at: number, windowMs: number): number | undefined {
    const t = this.totals(at, windowMs);
    return t.count === 0 ? undefined : t.max;
  }

  /** How far `latest` is above the lowest value of the window: a rise such as a cooling failure. */
  rise(at: number, windowMs: number, latest: number): number | undefined {
    const t = this.totals(at, windowMs);
    return t.count === 0 ? undefined : latest - t.min;
  }
}
