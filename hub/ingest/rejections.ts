// The record of refused input: bounded (oldest evicted and counted), readable at
// GET /api/v1/rejections, and logged at most once per device per minute so a chatty broken
// sensor cannot flood the logs. A refusal of the device itself (an invalid id, an undeclared
// device, one past limits.max_devices) is logged once a minute per reason instead: those ids are
// the sender's to invent, and a flood of them is one event for the operator, not thousands.
import { clip } from '../domain/clip.ts';
import type { RejectionReason } from './rejection.ts';

export interface RejectionRecord {
  at: number;
  source: string;
  /** The device the message claimed to be from, when one could be read (even an invalid id). */
  device?: string;
  topic?: string;
  reason: RejectionReason;
  detail: string;
  /** The start of the payload, as text, so an operator can see what was sent. */
  excerpt: string;
}

export interface RejectionLogOptions {
  capacity: number;
  now: () => number;
  /** Called for the first rejection of a device in each minute, with how many were not logged before it. */
  log: (record: RejectionRecord, suppressed: number) => void;
  onReject?: (record: RejectionRecord) => void;
}

const LOG_INTERVAL_MS = 60_000;
const EXCERPT_CHARS = 200;
const LOG_KEYS_MAX = 10_000;
const LOGGED_PER_REASON: ReadonlySet<RejectionReason> = new Set<RejectionReason>([
  'invalid_id',
  'undeclared_device',
  'too_many_devices',
]);

export function excerptOf(payload: Buffer): string {
  const head = payload.subarray(0, EXCERPT_CHARS * 4).toString('utf8');
  const text = head.length > EXCERPT_CHARS ? head.slice(0, EXCERPT_CHARS) : head;
  return text.length < payload.length && payload.length > EXCERPT_CHARS ? `${text}… (${payload.length} bytes)` : text;
}

/** The most kept of a name a client gave (a topic of up to 64 KiB, a device id not yet checked). */
export const NAME_CHARS = 200;

export class RejectionLog {
  private readonly records: RejectionRecord[] = [];
  private start = 0;
  private evictedCount = 0;
  private totalCount = 0;
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly options: RejectionLogOptions) {}

  add(full: RejectionRecord): void {
    this.totalCount++;
    // What a client named (a topic of up to 64 KiB) is kept cut, as the excerpt is.
    const record: RejectionRecord = {
      ...full,
      ...(full.device !== undefined && { device: clip(full.device, NAME_CHARS) }),
      ...(full.topic !== undefined && { topic: clip(full.topic, NAME_CHARS) }),
    };
    if (this.records.length < this.options.capacity) {
      this.records.push(record);
    } else {
      this.records[this.start] = record;
      this.start = (this.start + 1) % this.options.capacity;
      this.evictedCount++;
    }
    this.options.onReject?.(record);
    this.maybeLog(record);
  }

  private maybeLog(record: RejectionRecord): void {
    const key = LOGGED_PER_REASON.has(record.reason)
      ? `reason:${record.reason}`
      : (record.device ?? `${record.source}:${record.topic ?? ''}`);
    const now = record.at;
    const last = this.lastLogged.get(key);
    if (last && now - last.at < LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    // Hostile clients can invent endless keys; forgetting them only means one extra log line.
    if (this.lastLogged.size >= LOG_KEYS_MAX) this.lastLogged.clear();
    this.options.log(record, last?.suppressed ?? 0);
    this.lastLogged.set(key, { at: now, suppressed: 0 });
  }

  /** Newest first. */
  list(filter: { device?: string; reason?: string; limit?: number } = {}): RejectionRecord[] {
    const ordered = [...this.records.slice(this.start), ...this.records.slice(0, this.start)].reverse();
    const matching = ordered.filter(
      (r) =>
        (filter.device === undefined || r.device === filter.device) &&
        (filter.reason === undefined || r.reason === filter.reason),
    );
    return matching.slice(0, filter.limit ?? matching.length);
  }

  get evicted(): number {
    return this.evictedCount;
  }

  get total(): number {
    return this.totalCount;
  }
}
