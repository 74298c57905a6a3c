// Email over SMTP (nodemailer): one message per group of notices, plain text and HTML. STARTTLS is
// used whenever the server offers it (and demanded with `require_tls`); smtps:// is TLS from the
// start. A recipient or message the server refuses for good (5xx) is set aside after a few
// attempts; a server away, a login refused or a 4xx is retried, the notices kept meanwhile. A
// message the server takes for some recipients and refuses for others is delivered: sending it
// again would repeat it to those who have it, so the refused ones are told of (`refusedSome`).
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { ReceiverConfig } from '../config/notify.ts';
import { escapeHtml as e } from '../reports/html.ts';
import { GROUP_BATCH, messageOf, type Message } from './message.ts';
import type { OutboxRow, OutboxTarget } from './outbox.ts';
import { DeliveryRefused } from './webhook.ts';

type EmailConfig = NonNullable<ReceiverConfig['email']>;

/**
 * The SMTP commands whose 5xx refuses this message itself: a recipient (RCPT TO) or its content
 * (DATA). A refusal anywhere else (the greeting, the login, MAIL FROM, relaying) is the setup,
 * and fixing it must lose nothing.
 */
const MESSAGE_COMMANDS = new Set(['RCPT TO', 'DATA']);

export function emailText(m: Message): string {
  const lines = m.items.map(
    (i) =>
      `${i.event.toUpperCase()} [${i.severity}] ${i.summary}\n  zone ${i.zone} · ${i.at} · ${i.key}${i.code ? ` · code ${i.code}` : ''}${i.ack ? `\n  acknowledged by ${i.ack}` : ''}`,
  );
  if (m.more > 0) lines.push(`… and ${m.more} more (the floor page and GET /api/v1/alerts list them all)`);
  return `${m.title}\n\n${lines.join('\n\n')}\n\n— floorwatch, ${m.site}\n`;
}

export function emailHtml(m: Message): string {
  const rows = m.items
    .map(
      (i) =>
        `<tr><td>${e(i.event)}</td><td>${e(i.severity)}</td><td>${e(i.zone)}</td><td>${e(i.summary)}${i.ack ? `<br><small>acknowledged by ${e(i.ack)}</small>` : ''}</td><td>${e(i.at)}</td></tr>`,
    )
    .join('');
  const more = m.more > 0 ? `<p>… and ${m.more} more.</p>` : '';
  return `<!doctype html><html><body style="font:14px/1.4 sans-serif"><h2>${e(m.title)}</h2><table border="1" cellpadding="4" style="border-collapse:collapse"><tr><th>Event</th><th>Severity</th><th>Zone</th><th>What</th><th>When</th></tr>${rows}</table>${more}<p><small>floorwatch, ${e(m.site)}</small></p></body></html>`;
}

/** The outbox rows a message carries, "12" or first and last ("12-57"): one short header for a group of hundreds. */
function deliveryIds(rows: readonly OutboxRow[]): string {
  const first = rows[0]?.id;
  const last = rows.at(-1)?.id;
  return first === last ? String(first) : `${first}-${last}`;
}

/** Told of a message the mail server took for some recipients and refused for the others. */
export type RefusedSome = (target: string, rows: readonly OutboxRow[], reason: string) => void;

/**
 * The longest a message may take, connection to last reply. The server's own timeouts are idle
 * ones: a server sending a line every few seconds would hold its receiver's queue for ever, and
 * nothing would say the receiver is failing.
 */
const SEND_DEADLINE_MS = 60_000;

export function emailTarget(
  name: string,
  config: EmailConfig,
  timeZone: string,
  refusedSome?: RefusedSome,
  deadlineMs = SEND_DEADLINE_MS,
): OutboxTarget {
  const url = new URL(config.smtp);
  const secure = url.protocol === 'smtps:';
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    requireTLS: config.require_tls,
    ...(url.username && { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }),
    ...(config.ca !== undefined && { tls: { ca: readFileSync(config.ca) } }),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    name,
    batch: GROUP_BATCH,
    async deliver(rows) {
      const m = messageOf(rows, timeZone);
      let sent: { rejected: unknown[]; rejectedErrors?: Array<{ message: string }> };
      const signal = AbortSignal.timeout(deadlineMs);
      try {
        sent = await transport.sendMail({
          from: config.from,
          to: config.to,
          subject: m.title,
          text: emailText(m),
          html: emailHtml(m),
          headers: { 'X-Floorwatch-Delivery': deliveryIds(rows) },
          // Aborted, the message's connection is closed.
          signal,
        });
      } catch (err) {
        if (signal.aborted)
          throw new Error(
            `could not send mail through ${url.host}: the mail server had not taken the message after ${deadlineMs / 1000} s`,
          );
        const { responseCode: reply, command } = err as { responseCode?: unknown; command?: unknown };
        if (typeof reply === 'number' && reply >= 500 && typeof command === 'string' && MESSAGE_COMMANDS.has(command))
          throw new DeliveryRefused(`the mail server refused the message (${(err as Error).message})`);
        throw new Error(`could not send mail through ${url.host}: ${(err as Error).message}`);
      }
      if (sent.rejected.length === 0) return;
      const who = sent.rejected.map((a) => (typeof a === 'string' ? a : (a as { address: string }).address));
      const why = sent.rejectedErrors?.[0]?.message ?? 'refused';
      refusedSome?.(name, rows, `the mail server refused ${who.join(', ')} (${why}); the other recipients have it`);
    },
    refusedForGood: (err) => err instanceof DeliveryRefused,
  };
}
