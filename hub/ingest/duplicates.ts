// Remembers what each device sent lately, so a message re-sent after a lost PUBACK or a
// reconnect is journaled once. The stores are idempotent on (device, metric, ts) too; this filter
// is what catches (device, seq) repeats whose receive time differs. A device without a clock that
// restarts its seq at 0 within its last ~1000 readings has those readings taken for repeats: such
// firmware must keep its seq across restarts (the contract says so).
//
// A reading is known by its metric at the device's own timestamp when it sent one (so a device
// that restarts its seq at 0 is not mistaken for a repeat), else by its metric and seq. Without
// either, it cannot be recognised again. Keys are kept as numbers in per-metric sets: this runs
// for every reading, and building a string key for each cost more than the lookup.
const PER_DEVICE = 1024;
/** Ingest admits at most limits.max_devices (at most 100,000) devices; this only backs that bound up. */
const DEVICES_MAX = 100_000;

/** A reading as the filter knows it: `ts` is the device's own timestamp, if it sent one. */
export interface ReadingKey {
  metric: string;
  seq?: number | undefined;
  ts?: number | undefined;
}

class RecentKeys {
  private readonly byTime = new Map<string, Set<number>>();
  private readonly bySeq = new Map<string, Set<number>>();
  /** Oldest first once full: the set and the number in it, for forgetting. */
  private readonly ringSets: Array<Set<number>> = [];
  private readonly ringKeys: number[] = [];
  private next = 0;

  has(byTime: boolean, metric: string, n: number): boolean {
    return (byTime ? this.byTime : this.bySeq).get(metric)?.has(n) === true;
  }

  add(byTime: boolean, metric: string, n: number): void {
    const sets = byTime ? this.byTime : this.bySeq;
    let set = sets.get(metric);
    if (!set) {
      set = new Set();
      sets.set(metric, set);
    }
    if (set.has(n)) return;
    if (this.ringKeys.length < PER_DEVICE) {
      this.ringSets.push(set);
      this.ringKeys.push(n);
    } else {
      this.ringSets[this.next]!.delete(this.ringKeys[this.next]!);
      this.ringSets[this.next] = set;
      this.ringKeys[this.next] = n;
      this.next = (this.next + 1) % PER_DEVICE;
    }
    set.add(n);
  }
}

export class DuplicateFilter {
  private readonly devices = new Map<string, RecentKeys>();

  /** Whether the reading can be recognised again at all. */
  static recognisable(key: ReadingKey): boolean {
    return key.ts !== undefined || key.seq !== undefined;
  }

  has(device: string, key: ReadingKey): boolean {
    const keys = this.devices.get(device);
    if (!keys) return false;
    if (key.ts !== undefined) return keys.has(true, key.metric, key.ts);
    return key.seq !== undefined && keys.has(false, key.metric, key.seq);
  }

  /** Records a key once its reading is durable, so a failed write can be retried without being dropped. */
  add(device: string, key: ReadingKey): void {
    if (key.ts !== undefined) this.keysOf(device).add(true, key.metric, key.ts);
    else if (key.seq !== undefined) this.keysOf(device).add(false, key.metric, key.seq);
  }

  forget(device: string): void {
    this.devices.delete(device);
  }

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
}
