// Reads one histogram from the hub's /metrics, so a latency the hub measures inside itself can be
// reported for the span of one scenario (the difference of two scrapes).
export type Histogram = Map<number, number>;

export async function scrapeHistogram(url: string, name: string): Promise<Histogram> {
  const text = await (await fetch(url)).text();
  const buckets: Histogram = new Map();
  const pattern = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm');
  for (const [, le, count] of text.matchAll(pattern)) buckets.set(le === '+Inf' ? Infinity : Number(le), Number(count));
  return buckets;
}

export function subtractHistogram(after: Histogram, before: Histogram): Histogram {
  return new Map([...after].map(([le, count]) => [le, count - (before.get(le) ?? 0)]));
}

/** Upper bucket bounds, in ms, within which half, 99 % and all of the observations fall. */
export function histogramPercentiles(histogram: Histogram): { p50: number; p99: number; max: number } {
  const bounds = [...histogram.keys()].sort((a, b) => a - b);
  const total = histogram.get(Infinity) ?? 0;
  const bound = (q: number) => {
    const le = bounds.find((b) => (histogram.get(b) ?? 0) >= q * total) ?? Infinity;
    return le === Infinity ? Infinity : Math.round(le * 1000);
  };
  return { p50: bound(0.5), p99: bound(0.99), max: bound(1) };
}
