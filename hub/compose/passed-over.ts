// A journal consumer whose destination may be away for good (a bridge's broker, the cluster's
// Redis) must not hold the journal until the disk is full: past its bound the journal passes the
// oldest entries over (ConsumeOptions.keepsAtMost). Here they are counted and told, at most once a
// minute, with the total since the hub started.
import { counted } from '../domain/counted.ts';
import type { NoticeLog } from '../telemetry/notices.ts';

export function passedOverNotice(options: {
  notices: NoticeLog;
  key: string;
  /** Told of each count passed over, for a metric. */
  count: (passed: number) => void;
  /** The log line, given the total passed over so far ("12 entries"). */
  says: (total: string) => string;
}): (passed: number) => void {
  let total = 0;
  return (passed) => {
    total += passed;
    options.count(passed);
    options.notices.once(options.key, options.says(counted(total, 'entry', 'entries')));
  };
}
