// The devices the hub takes on, bounded by limits.max_devices. Everything the hub keeps per device
// (ingest's metric sets and clock notices, the duplicate filter, the device list, the rule
// engine's state, the floor page) grows only with the devices admitted here, so a client inventing
// ids costs a refusal each, not memory. Devices the configuration names are always known and never
// refused; devices known before a restart (the device list on disk, the journal) stay known.
import { devicesOf, type Entry } from '../domain/reading.ts';
import { Rejection } from './rejection.ts';

export interface KnownDevicesOptions {
  max: number;
  /** Devices and gateways the configuration names: known from the start, counted, never refused. */
  configured: Iterable<string>;
}

export interface KnownDevicesStatus {
  known: number;
  max: number;
  /** Messages refused since the start because their device would have gone past the bound. */
  refused: number;
}

export class KnownDevices {
  private configured: Set<string>;
  private readonly others = new Set<string>();
  private refusedCount = 0;

  constructor(private readonly options: KnownDevicesOptions) {
    this.configured = new Set(options.configured);
  }

  /**
   * A reloaded configuration's bound and the devices it names: these are known from now on, those
   * it no longer names stay known (until forgotten); a lower bound only refuses newcomers.
   */
  declare(configured: Iterable<string>, max: number): void {
    this.options.max = max;
    const next = new Set(configured);
    for (const id of this.configured) if (!next.has(id)) this.others.add(id);
    this.configured = next;
    for (const id of next) this.others.delete(id);
  }

  /** A device known from before this start; kept even past the bound, which only limits newcomers. */
  add(id: string): void {
    if (!this.configured.has(id)) this.others.add(id);
  }

  /** Every device an entry still in the journal speaks of; a device forgotten since is not. */
  remember(entry: Entry): void {
    if (entry.type === 'forgotten') this.forget(entry.forgotten.device);
    else for (const device of devicesOf(entry)) this.add(device);
  }

  /** A device an operator said is gone no longer counts against the bound; a configured one always does. */
  forget(id: string): void {
    this.others.delete(id);
  }

  /** Whether the device is one the configuration names. */
  isConfigured(id: string): boolean {
    return this.configured.has(id);
  }

  knows(id: string): boolean {
    return this.configured.has(id) || this.others.has(id);
  }

  /** Takes the device on, or throws `too_many_devices` when it is new and the hub already knows as many as it may. */
  admit(device: string): void {
    if (this.configured.has(device) || this.others.has(device)) return;
    if (this.size >= this.options.max) {
      this.refusedCount++;
      throw new Rejection(
        'too_many_devices',
        `the hub already knows ${this.size} devices, the most limits.max_devices allows (${this.options.max}): device "${device.slice(0, 80)}" is not taken on; declare it under devices, forget devices gone from the floor (floorwatch devices forget), or raise limits.max_devices`,
      );
    }
    this.others.add(device);
  }

  get size(): number {
    return this.configured.size + this.others.size;
  }

  status(): KnownDevicesStatus {
    return { known: this.size, max: this.options.max, refused: this.refusedCount };
  }
}
