// What goes out to an external broker (bridges/link.ts). Alert transitions go through the durable
// outbox, one target per bridge, as webhooks do: a broker away for an hour gets every message,
// in order, when it is back, each with its delivery id, marked as a repeat when it may have been
// sent before. Device births and wills (and readings, if asked) come from the journal, as one more
// consumer per bridge, so an outage of up to out.max_behind entries loses none of them either: the
// journal keeps them until the broker has acknowledged them (past the bound the oldest are passed over).
import { BrokerRefusal, type BridgeLink } from '../bridges/link.ts';
import type { Entry } from '../domain/reading.ts';
import type { AlertNotice } from './notifier.ts';
import type { OutboxTarget } from './outbox.ts';

export function bridgeTargetName(link: BridgeLink): string {
  return `bridge ${link.name}`;
}

/** The outbox target that publishes alert notices to the external broker, as the hub's broker has them. */
export function bridgeAlertTarget(link: BridgeLink, prefix: string, deliveryPrefix = ''): OutboxTarget {
  return {
    name: bridgeTargetName(link),
    batch: 1,
    // A message the broker refuses is set aside after a few attempts, so the rest flow.
    refusedForGood: (err) => err instanceof BrokerRefusal,
    async deliver(rows, attempt) {
      for (const row of rows) {
        const notice = JSON.parse(row.payload) as AlertNotice;
        const topic = `${prefix}/alerts/${notice.alert.zone}/${notice.alert.key}`;
        const marks = { delivery: `${deliveryPrefix}${row.id}`, repeat: attempt?.retry ?? false };
        // As on the hub's broker: a resolution is sent, then the retained alert cleared.
        if (notice.alert.state === 'resolved') {
          await link.publish({ topic, payload: row.payload, retain: false, ...marks });
          await link.publish({ topic, payload: '', retain: true, ...marks });
        } else {
          await link.publish({ topic, payload: row.payload, retain: true, ...marks });
        }
      }
    },
  };
}

/**
 * The journal consumer's handler for a bridge: births and wills retained, readings as telemetry
 * (if the bridge asks for them). A batch handed over again after a failure is marked as a repeat.
 */
export function bridgeEntries(
  link: BridgeLink,
  prefix: string,
  node = '',
): (entries: Entry[], lastLsn: number) => Promise<void> {
  let failedUpTo = 0;
  return async (entries, lastLsn) => {
    const first = lastLsn - entries.length + 1;
    try {
      for (const [i, entry] of entries.entries()) {
        const lsn = first + i;
        // What came in through a bridge, this one or another, goes back to none: it would be
        // taken in again and sent out again, for good.
        if (entry.bridge !== undefined) continue;
        const marks = { delivery: `${node}${lsn}`, repeat: lsn <= failedUpTo };
        if (entry.type === 'status' && entry.status.subject === 'device') {
          const { id, status } = entry.status;
          await link.publish({ topic: `${prefix}/devices/${id}/status`, payload: status, retain: true, ...marks });
        } else if (entry.type === 'readings' && link.config.out.readings) {
          for (const reading of entry.readings) {
            const payload = JSON.stringify({ ts: reading.ts, [reading.metric]: reading.value });
            await link.publish({
              topic: `${prefix}/devices/${reading.device}/telemetry`,
              payload,
              retain: false,
              ...marks,
            });
          }
        }
      }
    } catch (err) {
      failedUpTo = Math.max(failedUpTo, lastLsn);
      throw err;
    }
  };
}
