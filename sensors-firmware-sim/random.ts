// Seeded randomness, so a floor with the same fleet file and seed produces the same readings.

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Normally distributed, mean 0, standard deviation 1. */
  gaussian(): number;
}

/** mulberry32: small, fast, and good enough for sensor noise. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    gaussian() {
      // Box-Muller; 1 - u keeps the logarithm finite.
      return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    },
  };
}

/** A stable number in [0, 1) for a text (a device id), e.g. to pick which headsets fail. */
export function hashFraction(text: string, seed = 0): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return seededRandom(h).next();
}
