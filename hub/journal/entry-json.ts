// The JSON text of an entry as its journal record holds it. Readings entries, nearly all of the
// journal, are written field by field: JSON.stringify took three times as long for them, and
// every reading passes here once. A plain reading is written with a Reading's fields only; anything
// else goes through JSON.stringify, so the text always parses back to what the entry holds.
import type { Entry, Reading } from '../domain/reading.ts';

/** A string JSON takes as it is: no quote, backslash or control character to escape. */
const PLAIN = /^[\w.-]*$/;

function plain(value: unknown): value is string {
  return typeof value === 'string' && PLAIN.test(value);
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * The reading's fields as JSON; undefined when one is not what a reading holds. Each field is read
 * once, so what is checked is what is written.
 */
function readingJson(r: Partial<Record<keyof Reading, unknown>>): string | undefined {
  const { device, metric, zone, value, ts, unknownMetric, seq, uncalibrated } = r;
  if (!plain(device) || !plain(metric) || !plain(zone) || !finite(value) || !finite(ts)) return undefined;
  let text = `{"device":"${device}","metric":"${metric}","value":${value},"ts":${ts},"zone":"${zone}"`;
  if (unknownMetric !== undefined) {
    if (unknownMetric !== true) return undefined;
    text += ',"unknownMetric":true';
  }
  if (seq !== undefined) {
    if (!finite(seq)) return undefined;
    text += `,"seq":${seq}`;
  }
  if (uncalibrated !== undefined) {
    if (!finite(uncalibrated)) return undefined;
    text += `,"uncalibrated":${uncalibrated}`;
  }
  return `${text}}`;
}

/** The entry's JSON, or what JSON.stringify gives for what JSON cannot hold (undefined; a BigInt throws). */
export function entryJson(entry: Entry): unknown {
  if (entry.type === 'readings' && Array.isArray(entry.readings)) {
    // As the type says, or anything else: an entry is checked here, not trusted.
    const readings: unknown[] = entry.readings;
    let text = '{"type":"readings","readings":[';
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i];
      const json = typeof reading === 'object' && reading !== null ? readingJson(reading) : undefined;
      if (json === undefined) return JSON.stringify(entry);
      text += i === 0 ? json : `,${json}`;
    }
    const { bridge } = entry;
    if (bridge === undefined) return `${text}]}`;
    return plain(bridge) ? `${text}],"bridge":"${bridge}"}` : JSON.stringify(entry);
  }
  return JSON.stringify(entry);
}
