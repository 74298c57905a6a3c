// The store writer: the journal consumer that puts readings into the store. A failed write is
// retried by the journal with backoff, so an outage leaves a backlog in the journal, never a gap.
import type { Logger } from 'pino';
import type { Entry, Reading } from '../domain/reading.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Store } from './store.ts';

export interface StoreWriterState {
  ok: boolean;
  /** When the current outage began (ms), if there is one. */
  downSince?: number;
  lastError?: string;
  lastWriteAt?: number;
}

export class StoreWriter {
  readonly state: StoreWriterState = { ok: true };

  constructor(
    private readonly store: Store,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    metrics.storeUp.set(1);
  }

  /** The journal handler: resolves when every reading of the batch is stored. */
  readonly write = async (entries: readonly Entry[]): Promise<void> => {
    const readings: Reading[] = [];
    for (const entry of entries) if (entry.type === 'readings') readings.push(...entry.readings);
    if (readings.length === 0) return;
    const stopTimer = this.metrics.storeWriteSeconds.startTimer();
    try {
      await this.store.write(readings);
    } catch (err) {
      this.metrics.storeWriteFailures.inc();
      this.metrics.storeUp.set(0);
      const message = (err as Error).message;
      if (this.state.ok) {
        this.log.error({ store: this.store.name, err: message }, `storage down: cannot write to ${this.store.name} (${message}); readings are kept in the journal and will be written when it is back`);
        this.state.downSince = this.now();
      }
      this.state.ok = false;
      this.state.lastError = message;
      throw err;
    }
    stopTimer();
    this.metrics.readingsStored.inc(readings.length);
    const storedAt = this.now();
    for (const r of readings) this.metrics.readingAgeAtStore.observe((storedAt - r.ts) / 1000);
    if (!this.state.ok) {
      const downFor = Math.round((this.now() - (this.state.downSince ?? this.now())) / 1000);
      this.log.warn({ store: this.store.name }, `storage back after ${downFor} s: ${this.store.name} accepts writes again; writing the backlog`);
      this.metrics.storeUp.set(1);
      this.state.ok = true;
      delete this.state.downSince;
    }
    this.state.lastWriteAt = this.now();
  };
}
