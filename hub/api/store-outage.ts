// The store as the API reads it. When a read fails because the store is down (InfluxDB stopped or
// unreachable), the answer is a 503 that says so and how much waits in the journal, not the
// backend's raw error: nothing is lost, and the caller can try again. A read that fails while the
// store is healthy is a fault of its own and stays a 500. A store that is up but busy (as many
// reads waiting as it takes) is a 503 that says only that.
import { StoreBusy, StoreUnavailable, type StoreReader } from '../store/store.ts';
import { counted } from '../domain/counted.ts';

/** A 503 for Fastify's error handler, which also sets `headers` on the answer. */
export class ReadsUnavailable extends Error {
  readonly statusCode = 503;
  readonly headers = { 'retry-after': '10' };
  override name = 'ReadsUnavailable';
}

export interface StoreOutageOptions {
  store: StoreReader;
  /** Journal entries the store writer has not yet written: what the health report calls the store backlog. */
  backlog: () => number;
}

export function outageAwareReads({ store, backlog }: StoreOutageOptions): StoreReader {
  const explain = async (err: unknown): Promise<unknown> => {
    // The store says so itself when it is unavailable; otherwise its health tells a fault from an outage.
    // Busy, not down: the journal has nothing to do with it, and the answer says only that.
    if (err instanceof StoreBusy)
      return new ReadsUnavailable(`the reading store (${store.name}) is busy: ${err.message}`);
    let why: string;
    if (err instanceof StoreUnavailable) {
      why = err.message;
    } else {
      const health = await store.health();
      if (health.ok) return err;
      why = health.detail;
    }
    const waiting = backlog();
    return new ReadsUnavailable(
      `the reading store (${store.name}) is not available: ${why}. Nothing is lost: ${counted(waiting, 'journal entry waits', 'journal entries wait')} to be stored and will be written when it is back; try again then`,
    );
  };
  const guarded = <T>(read: Promise<T>): Promise<T> =>
    read.catch(async (err: unknown) => {
      throw await explain(err);
    });
  return {
    name: store.name,
    health: () => store.health(),
    query: (q) => guarded(store.query(q)),
    queryMinutes: (q) => guarded(store.queryMinutes(q)),
    count: (q) => guarded(store.count(q)),
    queryAlertEvents: (q) => guarded(store.queryAlertEvents(q)),
  };
}
