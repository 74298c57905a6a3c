// The words of a notice for people: what email, Teams and Slack all say about a group of alert
// transitions, each receiver laying them out in its own format. Times in the site's time zone.
// Pure.
import { alertKind } from '../domain/alert.ts';
import type { Severity } from '../domain/requirement.ts';
import type { AlertNotice } from './notifier.ts';
import type { OutboxRow } from './outbox.ts';

/**
 * How many notices a channel for people takes at once: a whole group (an outage of hundreds of
 * devices is one message, listing the first few), not one message per fifty.
 */
export const GROUP_BATCH = 500;

export interface MessageItem {
  /** What happened, in words: "Firing", "Resolved", "Still firing", … */
  event: string;
  /** Whether the alert is still open after this notice. */
  open: boolean;
  severity: Severity;
  zone: string;
  summary: string;
  /** When, in the site's time zone. */
  at: string;
  key: string;
  /** Who acknowledged it, and what they said. */
  ack?: string;
  code?: string;
}

export interface Message {
  /** One line: the subject of an email, the heading of a card. */
  title: string;
  items: MessageItem[];
  /** Items left out of a long message. */
  more: number;
  site: string;
}

const EVENT_WORDS: Record<AlertNotice['event'], string> = {
  firing: 'Firing',
  severity: 'Severity changed',
  resolved: 'Resolved',
  acknowledged: 'Acknowledged',
  escalated: 'Escalated: not acknowledged',
  reminder: 'Still firing',
};

/** A time as people on site read it, e.g. "Mon 30 Nov 14:05". */
function timeText(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(at);
}

function common<T>(list: readonly T[]): T | undefined {
  const first = list[0];
  return list.every((x) => x === first) ? first : undefined;
}

/** The message for notices that go out together (one group), at most `maxItems` listed. */
export function message(notices: readonly AlertNotice[], timeZone: string, maxItems = 20): Message {
  const items = notices.map((n): MessageItem => {
    const a = n.alert;
    return {
      event: `${EVENT_WORDS[n.event]}${n.late ? ' (sent late)' : ''}`,
      open: a.state !== 'resolved',
      severity: a.severity,
      zone: a.zone,
      summary: a.summary || a.key,
      at: timeText(n.at, timeZone),
      key: a.key,
      ...(a.ack && { ack: `${a.ack.by}${a.ack.comment ? `: ${a.ack.comment}` : ''}` }),
      ...(a.code !== undefined && { code: a.code }),
    };
  });
  const open = items.filter((i) => i.open).length;
  const closed = items.length - open;
  const counts = [open > 0 && `${open} open`, closed > 0 && `${closed} resolved`].filter(Boolean).join(', ');
  const critical = items.some((i) => i.open && i.severity === 'critical');
  const zone = common(notices.map((n) => n.alert.zone));
  const kind = common(notices.map((n) => alertKind(n.alert)));
  const about = [zone && `zone ${zone}`, kind].filter(Boolean).join(', ');
  const site = notices[0]?.site ?? 'floorwatch';
  const title =
    items.length === 1 && items[0]
      ? `${critical ? '[CRITICAL] ' : ''}${items[0].event}: ${items[0].summary}`
      : `${critical ? '[CRITICAL] ' : ''}${counts}${about ? ` — ${about}` : ''}`;
  return {
    title: `${site}: ${title}`,
    items: items.slice(0, maxItems),
    more: Math.max(0, items.length - maxItems),
    site,
  };
}

/** The message for the outbox rows a channel for people is handed at once. */
export function messageOf(rows: readonly OutboxRow[], timeZone: string): Message {
  return message(
    rows.map((r) => JSON.parse(r.payload) as AlertNotice),
    timeZone,
  );
}
