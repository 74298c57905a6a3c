// What a device names of its own: its metrics, its components. Each name becomes state the hub
// keeps for the device (windows, alerts, a line in the device list), and a device can make up
// names at will; so a device may use so many and no more. Names it used before count from the
// start, as the journal and the device list hold them.

import type { ComponentHealth } from '../domain/reading.ts';
import { Rejection } from './rejection.ts';

export class DeviceNames {
  private readonly byDevice = new Map<string, Set<string>>();

  /** The bound is read at each new name: a reloaded configuration's applies at once. */
  constructor(private readonly max: () => number) {}

  /** Whether the device may use `name`: one it used already, or a new one while under the bound (then noted). */
  admit(device: string, name: string): boolean {
    const names = this.of(device);
    if (names.has(name)) return true;
    if (names.size >= this.max()) return false;
    names.add(name);
    return true;
  }

  /** A name the device used before this start: noted, whatever the bound. */
  remember(device: string, name: string): void {
    this.of(device).add(name);
  }

  /** The components a heartbeat from the journal names, from before this start. */
  rememberComponents(heartbeat: unknown): void {
    // An entry from an older release, or cut short, is passed over.
    const { device, components } = heartbeat as { device?: unknown; components?: unknown };
    if (typeof device !== 'string' || typeof components !== 'object' || components === null) return;
    for (const name of Object.keys(components)) this.remember(device, name);
  }

  count(device: string): number {
    return this.byDevice.get(device)?.size ?? 0;
  }

  forget(device: string): void {
    this.byDevice.delete(device);
  }

  /** The names the device used, to look up in place: once per reading, in ingest. */
  of(device: string): Set<string> {
    let names = this.byDevice.get(device);
    if (!names) {
      names = new Set();
      this.byDevice.set(device, names);
    }
    return names;
  }
}

/**
 * A heartbeat's components within the device's bound, each an alert of its own when it reports a
 * fault; those past it are left out of the heartbeat (which still counts) and refused.
 */
export function componentsWithin(
  names: DeviceNames,
  device: string,
  components: Record<string, ComponentHealth>,
): { kept: Record<string, ComponentHealth>; refusal?: Rejection } {
  const entries = Object.entries(components);
  const kept = entries.filter(([name]) => names.admit(device, name));
  if (kept.length === entries.length) return { kept: components };
  const left = entries.filter((e) => !kept.includes(e)).map(([name]) => JSON.stringify(name.slice(0, 80)));
  const more = left.length > 5 ? ` and ${left.length - 5} more` : '';
  // What to do first, the names last: a refusal's detail is cut at DETAIL_CHARS.
  return {
    kept: Object.fromEntries(kept),
    refusal: new Rejection(
      'too_many_components',
      `device "${device}" already reports ${names.count(device)} components; ${left.length} more would exceed ingest.max_components_per_device and are left out of its heartbeat: ${left.slice(0, 5).join(', ')}${more}`,
    ),
  };
}
