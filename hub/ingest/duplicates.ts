// Remembers what each device sent lately, so a message re-sent after a lost PUBACK or a
// reconnect is journaled once. The stores are idempotent on (device, metric, ts) too; this filter
// is what catches (device, seq) repeats whose receive time differs. A device without a clock that
// restarts its seq at 0 within its last ~1000 readings has those readings taken for repeats: such
// firmware must keep its seq across restarts (the contract says so).
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

  /**
   * The key a reading is known by: its metric at the device's own timestamp when it sent one (so a
   * device that restarts its seq at 0 is not mistaken for a repeat), else its metric and seq.
   * Without either, a reading cannot be recognised again.
   */
  static keyOf(metric: string, seq: number | undefined, deviceTs: number | undefined): string | undefined {
    if (deviceTs !== undefined) return `t${deviceTs}:${metric}`;
    if (seq !== undefined) return `s${seq}:${metric}`;
    return undefined;
  }

  has(device: string, key: string): boolean {
    return this.devices.get(device)?.has(key) === true;
  }

  /** Records a key once its reading is durable, so a failed write can be retried without being dropped. */
  add(device: string, key: string): void {
    this.keysOf(device).add(key);
  }
}
