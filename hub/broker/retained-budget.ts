// Retained messages live in the broker's memory for as long as nobody clears them, and a client
// can set one on every topic it invents. The hub keeps an account of what clients leave there and
// holds it to a total: a retained message that would go past it is delivered to subscribers as
// usual but not kept. The hub's own retained messages (alerts, hub and gateway status) are bounded
// by what the hub watches, and are not counted.

/** What one retained message is taken to cost beyond its topic and payload: the broker's own record of it. */
export const RETAINED_OVERHEAD_BYTES = 256;

export class RetainedBudget {
  private readonly sizes = new Map<string, number>();
  private used = 0;

  /** The bound is read at each message: a reloaded configuration's applies at once. */
  constructor(private readonly limits: { readonly maxRetainedBytes: number }) {}

  /**
   * Takes note of a retained publish on `topic` and says whether the broker may keep it. An empty
   * payload clears the topic (always allowed); a new message replaces the topic's old one.
   */
  admit(topic: string, payloadBytes: number): boolean {
    const old = this.sizes.get(topic) ?? 0;
    if (payloadBytes === 0) {
      this.sizes.delete(topic);
      this.used -= old;
      return true;
    }
    const size = Buffer.byteLength(topic) + payloadBytes + RETAINED_OVERHEAD_BYTES;
    if (this.used - old + size > this.limits.maxRetainedBytes) return false;
    this.sizes.set(topic, size);
    this.used += size - old;
    return true;
  }

  /** Bytes counted now, and the number of topics. */
  get bytes(): number {
    return this.used;
  }

  get topics(): number {
    return this.sizes.size;
  }
}
