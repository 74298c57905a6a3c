// Remembers what each device sent lately, so a message re-sent after a lost PUBACK or a
// reconnect is journaled once. The stores are idempotent on (device, metric, ts) too; this filter
// is what catches (device, seq) repeats whose receive time differs. A device without a clock that
// restarts its seq at 0 within its last ~1000 readings has those readings taken for repeats: such
// firmware must keep its seq across restarts (the contract says so).
//
// A reading is known by its metric at the device's own timestamp when it sent one (so a device
// that restarts its seq at 0 is not mistaken for a repeat), else by its metric and seq. Without
// either, it cannot be recognised again. Keys are kept as numbers: this runs for every reading,
// and building a string key for each cost more than the lookup.
const PER_DEVICE = 1024;
/** Ingest admits at most limits.max_devices (at most 100,000) devices; this only backs that bound up. */
const DEVICES_MAX = 100_000;

/** A reading as the filter knows it: `ts` is the device's own timestamp, if it sent one. */
export interface ReadingKey {
  metric: string;
  seq?: number | undefined;
  ts?: number | undefined;
}

/**
 * A device's last PER_DEVICE keys in a ring, each with its tag (metric and kind). A device's times
 * and seqs mostly rise, so a key above the newest of its tag was never seen and needs no search;
 * only a repeat or an older key is searched for, through the ring. A Set per metric cost more:
 * adding one key and deleting the oldest churned its table on every reading.
 */
class RecentKeys {
  /** Tag of a metric: 2 × its number here, + 1 for seq keys. */
  private readonly metricNumbers = new Map<string, number>();
  /** Per tag, the largest key ever added (it outlives the key itself in the ring). */
  private readonly newest: number[] = [];
  private keys = new Float64Array(16);
  private tags = new Int32Array(16);
  private size = 0;
  private next = 0;

  has(byTime: boolean, metric: string, n: number): boolean {
    const number = this.metricNumbers.get(metric);
    if (number === undefined) return false;
    const tag = 2 * number + (byTime ? 0 : 1);
    const newest = this.newest[tag];
    return newest !== undefined && n <= newest && this.find(tag, n);
  }

  add(byTime: boolean, metric: string, n: number): void {
    // NaN as the newest would switch the search off for good; ingest never makes one, but say so here.
    if (Number.isNaN(n)) return;
    let number = this.metricNumbers.get(metric);
    if (number === undefined) {
      number = this.metricNumbers.size;
      this.metricNumbers.set(metric, number);
    }
    const tag = 2 * number + (byTime ? 0 : 1);
    const newest = this.newest[tag];
    if (newest === undefined || n > newest) this.newest[tag] = n;
    else if (this.find(tag, n)) return;
    if (this.size === this.keys.length && this.size < PER_DEVICE) this.grow();
    this.keys[this.next] = n;
    this.tags[this.next] = tag;
    this.size = Math.min(this.size + 1, this.keys.length);
    this.next = (this.next + 1) % this.keys.length;
  }

  /** Whether the ring holds the key: a search through up to PER_DEVICE numbers (about a microsecond), for old keys only. */
  private find(tag: number, n: number): boolean {
    const keys = this.size < this.keys.length ? this.keys.subarray(0, this.size) : this.keys;
    for (let i = keys.indexOf(n); i >= 0; i = keys.indexOf(n, i + 1)) if (this.tags[i] === tag) return true;
    return false;
  }

  /** Doubles the ring while it is not yet full size; while growing, it is filled in order from 0. */
  private grow(): void {
    const keys = new Float64Array(Math.min(PER_DEVICE, this.keys.length * 2));
    const tags = new Int32Array(keys.length);
    keys.set(this.keys);
    tags.set(this.tags);
    this.next = this.size;
    this.keys = keys;
    this.tags = tags;
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
