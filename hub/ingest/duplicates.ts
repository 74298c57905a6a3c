// Remembers what each device sent lately, so a message re-sent after a lost PUBACK or a
// reconnect is journaled once. The stores are idempotent on (device, metric, ts) too; this filter
// is what catches (device, seq) repeats whose receive time differs.
const PER_DEVICE = 1024;
const DEVICES_MAX = 100_000;

class RecentKeys {
  private readonly ring: string[] = [];
  private next = 0;
  private readonly set = new Set<string>();

  has(key: string): boolean {
    return this.set.has(key);
  }

  add(key: string): void {
    if (this.set.has(key)) return;
    if (this.ring.length < PER_DEVICE) {
      this.ring.push(key);
    } else {
      const old = this.ring[this.next];
      if (old !== undefined) this.set.delete(old);
      this.ring[this.next] = key;
      this.next = (this.next + 1) % PER_DEVICE;
    }
    this.set.add(key);
  }
}

export class DuplicateFilter {
  private readonly devices = new Map<string, RecentKeys>();

  private keysOf(device: string): RecentKeys {
    let keys = this.devices.get(device);
    if (!keys) {
      if (this.devices.size >= DEVICES_MAX) {
        const oldest = this.devices.keys().next().value;
        if (oldest !== undefined) this.devices.delete(oldest);
      }
      keys = new RecentKeys();
      this.devices.set(device, keys);
    }
    return keys;
  }

  private static key(metric: string, seq: number | undefined, ts: number | undefined): string | undefined {
    if (seq !== undefined) return `s${seq}:${metric}`;
    if (ts !== undefined) return `t${ts}:${metric}`;
    return undefined;
  }

  /** True when this (device, seq) or (device, metric, device-ts) was already recorded. */
  has(device: string, metric: string, seq: number | undefined, deviceTs: number | undefined): boolean {
    const key = DuplicateFilter.key(metric, seq, deviceTs);
    return key !== undefined && this.devices.get(device)?.has(key) === true;
  }

  /** Records a reading once it is durable, so a failed write can be retried without being dropped. */
  add(device: string, metric: string, seq: number | undefined, deviceTs: number | undefined): void {
    const key = DuplicateFilter.key(metric, seq, deviceTs);
    if (key !== undefined) this.keysOf(device).add(key);
  }
}
