// The store as the API reads it. When a read fails because the store is down (InfluxDB stopped or
// unreachable), the answer is a 503 that says so and how much waits in the journal, not the
// backend's raw error: nothing is lost, and the caller can try again. A read that fails while the
// store is healthy is a fault of its own and stays a 500.
import type { StoreReader } from '../store/store.ts';

export class StoreUnavailable extends Error {
  readonly statusCode = 503;
  /** Fastify's error handler sets these on the answer. */
  readonly headers = { 'retry-after': '10' };
  override name = 'StoreUnavailable';
}

export interface StoreOutageOptions {
  store: StoreReader;
  /** Journal entries the store writer has not yet written: what the health report calls the store backlog. */
  backlog: () => number;
}

export function outageAwareReads({ store, backlog }: StoreOutageOptions): StoreReader {
  const explain = async (err: unknown): Promise<unknown> => {
    const health = await store.health();
    if (health.ok) return err;
    const waiting = backlog();
    return new StoreUnavailable(
      `the reading store (${store.name}) is not available: ${health.detail}. Nothing is lost: ${waiting} journal ${waiting === 1 ? 'entry waits' : 'entries wait'} to be stored and will be written when it is back; try again then`,
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
    count: (q) => guarded(store.count(q)),
    queryAlertEvents: (q) => guarded(store.queryAlertEvents(q)),
  };
}
