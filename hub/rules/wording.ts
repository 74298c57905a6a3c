// How alert summaries word a zone and a figure.

/** A zone as summaries name it. */
export function zoneLabel(zone: string): string {
  return zone || 'unassigned';
}

/** A figure as summaries give it, to a tenth. */
export function tenths(v: number): string {
  return String(Math.round(v * 10) / 10);
}
