// This hub's journal, forwarded to its Redis stream for the cluster's rules leader: one more
// journal consumer. Any failure to forward is Redis's state, never an entry's: nothing is set
// aside, it waits. A Redis away for days must not hold the journal until the disk is full: past
// cluster.max_behind entries behind, the oldest are passed over. (While Redis answers, admission
// holds the devices back instead: in a cluster it waits for this consumer, not for the rules.)
import type { Redis } from 'ioredis';
import { EntryForwarder } from '../cluster/forwarder.ts';
import type { ConsumerHandle } from '../journal/journal.ts';
import { NoticeLog } from '../telemetry/notices.ts';
import type { AlertingOptions } from './alerting.ts';
import { passedOverNotice } from './passed-over.ts';

export function forwardJournal(
  options: Pick<AlertingOptions, 'config' | 'journal' | 'log' | 'now'>,
  to: {
    redis: Redis;
    node: string;
    /** Told of each count of entries passed over, never forwarded. */
    notForwarded: (count: number) => void;
  },
): { forwarder: EntryForwarder; forwarding: ConsumerHandle } {
  const { log } = options;
  const { max_stream_entries: maxEntries, max_behind: maxBehind } = options.config.cluster;
  const forwarder = new EntryForwarder({ redis: to.redis, node: to.node, maxEntries });
  const forwarding = options.journal.consume('cluster', forwarder.forward, {
    transient: () => true,
    keepsAtMost: maxBehind,
    onPassedOver: passedOverNotice({
      notices: new NoticeLog(log, options.now),
      key: 'cluster behind',
      count: to.notForwarded,
      says: (total) =>
        `this hub is ${maxBehind} journal entries behind in forwarding to the cluster's Redis (cluster.max_behind), so the oldest are passed over, not forwarded: ${total} since the hub started, which the cluster's rules do not see (this hub still stores them)`,
    }),
    onError: (err, attempt) => {
      if (attempt === 1)
        log.warn(
          { err: (err as Error).message },
          `cannot forward this hub's readings to the cluster's rules (${(err as Error).message}); they are kept in the journal (up to cluster.max_behind entries) and forwarded when Redis answers`,
        );
    },
  });
  return { forwarder, forwarding };
}
