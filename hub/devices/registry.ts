// What the hub knows of each device: declared kind and zone, last seen, presence from birth/LWT,
// last heartbeat. Fed by the journal like every other consumer; kept in a small snapshot file so
// a restart does not forget the floor. Its size follows the devices ingest admits (at most
// limits.max_devices); readers get it a page at a time, in id order, or as counts per zone.
import {
  hidesCharacters,
  type ComponentHealth,
  type DeviceKind,
  type Entry,
  type HealthStatus,
} from '../domain/reading.ts';
import { replaceFile } from '../domain/durable-file.ts';
import { readSnapshot, type Known } from './snapshot.ts';

export interface DeclaredDevice {
  id: string;
  kind: DeviceKind;
  zone?: string;
  position?: string;
  heartbeatIntervalMs: number;
}

export interface DeviceView {
  id: string;
  kind: DeviceKind | null;
  zone: string | null;
  /** The seat, desk or rack it serves, when declared with one. */
  position: string | null;
  /** false for devices that report but are not declared in config. */
  declared: boolean;
  online: boolean;
  /** Why online is what it is: the last birth/LWT, or heartbeat freshness. */
  onlineBy: 'status' | 'activity' | 'never_seen';
  lastSeen: number | null;
  lastHeartbeat: number | null;
  status: HealthStatus | null;
  components: Record<string, ComponentHealth>;
  fw: string | null;
  /** Battery charge from the last heartbeat that gave one, %. */
  battery: number | null;
  /** Signal strength from the last heartbeat that gave one, dBm. */
  rssi: number | null;
  metrics: string[];
}

const DEFAULT_INTERVAL_MS = 60_000;
/** A device is presumed online while it was heard within this many heartbeat intervals. */
const SILENT_INTERVALS = 3;
/**
 * Between snapshot writes. A device heard anywhere changes the list every second, and a whole
 * snapshot of a large floor written that often wears a small box's flash; what a crash loses of
 * it (last seen, presence) the next message from each device puts right.
 */
export const SAVE_INTERVAL_MS = 30_000;

export interface DeviceFilter {
  /** null: devices in no zone. */
  zone?: string | null;
  online?: boolean;
  /** Text the id, kind, zone or position holds, in any case. */
  match?: string;
}

/**
 * configured: the configuration names it, so only removing it there forgets it; unknown: the hub
 * never heard of it; online: it is heard from still, and was not forgotten without `force`.
 */
export type ForgetOutcome = 'forgotten' | 'configured' | 'unknown' | 'online';

export interface DevicePage {
  devices: DeviceView[];
  /** Devices matching the filter on every page. */
  total: number;
  /** Pass as `after` for the next page; null on the last. */
  next: string | null;
}

/** Devices in one zone ('' for those without one), and how many of them are online. */
export interface DeviceCount {
  total: number;
  online: number;
}

export class DeviceRegistry {
  private readonly known = new Map<string, Known>();
  private readonly declared = new Map<string, DeclaredDevice>();
  private lastSave = 0;
  /** Entries applied since the snapshot was last written. */
  private changed = false;
  /** Every id, declared or reported, in order; rebuilt only after a new device appears. */
  private sorted: string[] | undefined;

  /** What was wrong with the snapshot read at start, for the hub to log. */
  readonly snapshotProblem: string | undefined;

  constructor(
    declared: readonly DeclaredDevice[],
    private readonly snapshotPath?: string,
    /** When the hub starts: names a damaged snapshot set aside. */
    now = Date.now(),
  ) {
    for (const device of declared) this.declared.set(device.id, device);
    if (!snapshotPath) return;
    const { devices, problem } = readSnapshot(snapshotPath, now);
    for (const device of devices) this.known.set(device.id, device);
    this.snapshotProblem = problem;
  }

  /** The declared devices of a reloaded configuration; devices no longer declared stay listed as reported. */
  declare(declared: readonly DeclaredDevice[]): void {
    this.declared.clear();
    for (const device of declared) this.declared.set(device.id, device);
    this.sorted = undefined;
  }

  private entry(id: string, zone: string): Known {
    let device = this.known.get(id);
    if (!device) {
      device = { id, zone, metrics: [] };
      this.known.set(id, device);
      if (!this.declared.has(id)) this.sorted = undefined;
    }
    if (zone) device.zone = zone;
    return device;
  }

  apply(entries: readonly Entry[]): void {
    if (entries.length > 0) this.changed = true;
    for (const entry of entries) {
      if (entry.type === 'readings') {
        for (const r of entry.readings) {
          const device = this.entry(r.device, r.zone);
          device.lastSeen = Math.max(device.lastSeen ?? 0, r.ts);
          if (!device.metrics.includes(r.metric)) device.metrics.push(r.metric);
        }
      } else if (entry.type === 'heartbeat') {
        const hb = entry.heartbeat;
        const device = this.entry(hb.device, hb.zone);
        if ((device.lastHeartbeat ?? 0) <= hb.ts) {
          device.lastHeartbeat = hb.ts;
          device.status = hb.status;
          device.components = hb.components;
          if (hb.kind) device.kind = hb.kind;
          // One kept from before ingest left such versions out is not shown either.
          if (hb.fw && !hidesCharacters(hb.fw)) device.fw = hb.fw;
          if (hb.battery !== undefined) device.battery = hb.battery;
          if (hb.rssi !== undefined) device.rssi = hb.rssi;
        }
        device.lastSeen = Math.max(device.lastSeen ?? 0, hb.ts);
      } else if (entry.type === 'forgotten') {
        // A declared device stays listed until the configuration drops it.
        const { device } = entry.forgotten;
        if (!this.declared.has(device) && this.known.delete(device)) this.sorted = undefined;
      } else if (entry.status.subject === 'device') {
        const st = entry.status;
        const device = this.entry(st.id, st.zone);
        device.presence = st.status;
        device.presenceAt = st.ts;
        if (st.status === 'online') device.lastSeen = Math.max(device.lastSeen ?? 0, st.ts);
      }
    }
  }

  /**
   * Writes the snapshot if anything changed since the last: at most every SAVE_INTERVAL_MS, or now
   * when `force`. The write and its fsync are off the hub's thread; one that fails leaves the list
   * changed, to be written again.
   */
  async save(now: number, force = false): Promise<void> {
    if (!this.snapshotPath || !this.changed || (!force && now - this.lastSave < SAVE_INTERVAL_MS)) return;
    this.lastSave = now;
    this.changed = false;
    try {
      await replaceFile(this.snapshotPath, JSON.stringify([...this.known.values()]));
    } catch (err) {
      this.changed = true;
      throw err;
    }
  }

  /** Every device, in id order. */
  list(now: number): DeviceView[] {
    return this.ids().map((id) => this.view(id, now));
  }

  /** Up to `limit` devices matching the filter with ids after `after`, in id order. */
  page(now: number, options: DeviceFilter & { after?: string; limit: number }): DevicePage {
    const devices: DeviceView[] = [];
    let total = 0;
    let next: string | null = null;
    const match = options.match?.toLowerCase();
    const holds = (d: DeviceView) =>
      match === undefined || [d.id, d.kind, d.zone, d.position].some((v) => v?.toLowerCase().includes(match) === true);
    for (const id of this.ids()) {
      const device = this.view(id, now);
      if (
        (options.zone !== undefined && device.zone !== options.zone) ||
        (options.online !== undefined && device.online !== options.online) ||
        !holds(device)
      )
        continue;
      total++;
      if (options.after !== undefined && id <= options.after) continue;
      if (devices.length < options.limit) devices.push(device);
      else next ??= devices.at(-1)?.id ?? null;
    }
    return { devices, total, next };
  }

  /** Devices and online devices per zone ('' for devices without a zone). */
  counts(now: number): Map<string, DeviceCount> {
    const counts = new Map<string, DeviceCount>();
    for (const id of this.ids()) {
      const { zone, online } = this.view(id, now);
      let count = counts.get(zone ?? '');
      if (!count) counts.set(zone ?? '', (count = { total: 0, online: 0 }));
      count.total++;
      if (online) count.online++;
    }
    return counts;
  }

  /** The declared devices at each of these positions (seats, desks, racks), for the floor plan. */
  atPositions(positions: ReadonlySet<string>, now: number): Map<string, DeviceView[]> {
    const at = new Map<string, DeviceView[]>();
    for (const device of this.declared.values()) {
      if (device.position === undefined || !positions.has(device.position)) continue;
      let list = at.get(device.position);
      if (!list) at.set(device.position, (list = []));
      list.push(this.view(device.id, now));
    }
    return at;
  }

  /** Every device id, declared or reported, in order. */
  ids(): readonly string[] {
    this.sorted ??= [...new Set([...this.declared.keys(), ...this.known.keys()])].sort();
    return this.sorted;
  }

  /** What each device that reported named: its metrics, and its last heartbeat's components. */
  *namesUsed(): Generator<{ id: string; metrics: readonly string[]; components: readonly string[] }> {
    for (const d of this.known.values())
      yield { id: d.id, metrics: d.metrics, components: Object.keys(d.components ?? {}) };
  }

  get(id: string, now: number): DeviceView | undefined {
    return this.declared.has(id) || this.known.has(id) ? this.view(id, now) : undefined;
  }

  private view(id: string, now: number): DeviceView {
    const declared = this.declared.get(id);
    const known = this.known.get(id);
    const interval = declared?.heartbeatIntervalMs ?? DEFAULT_INTERVAL_MS;
    const lastSeen = known?.lastSeen;
    let online = false;
    let onlineBy: DeviceView['onlineBy'] = 'never_seen';
    // The newer of the two signals wins: an LWT after the last message means offline, a message
    // after an LWT means the device is back.
    if (known?.presence !== undefined && (known.presenceAt ?? 0) >= (lastSeen ?? 0)) {
      online = known.presence === 'online';
      onlineBy = 'status';
    } else if (lastSeen !== undefined) {
      online = now - lastSeen <= SILENT_INTERVALS * interval;
      onlineBy = 'activity';
    }
    return {
      id,
      kind: declared?.kind ?? known?.kind ?? null,
      zone: declared?.zone ?? (known?.zone || null),
      position: declared?.position ?? null,
      declared: declared !== undefined,
      online,
      onlineBy,
      lastSeen: lastSeen ?? null,
      lastHeartbeat: known?.lastHeartbeat ?? null,
      status: known?.status ?? null,
      components: known?.components ?? {},
      fw: known?.fw ?? null,
      battery: known?.battery ?? null,
      rssi: known?.rssi ?? null,
      metrics: known?.metrics ?? [],
    };
  }
}
