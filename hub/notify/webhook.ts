// Webhook delivery: one POST per notification, JSON, signed so the receiver can tell it came from
// this hub: X-Floorwatch-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared secret>.
// X-Floorwatch-Delivery carries the outbox id, the same on every retry, for receivers that dedupe;
// in a cluster it is named after the outbox it comes from ("cluster-12", "hub-2-7"), since the
// cluster's rules and each hub's own alerts keep outboxes of their own.
import { createHmac } from 'node:crypto';
import type { OutboxTarget } from './outbox.ts';

/** The receiver refused this notification itself (400, 413, 415, 422): sending it again cannot help. */
export class DeliveryRefused extends Error {
  override readonly name = 'DeliveryRefused';
}

/** Statuses that refuse the payload; others (401, 404, 5xx, …) are the receiver's state or setup, and retried. */
const REFUSED_STATUSES = new Set([400, 413, 415, 422]);

/** The receiver is busy and said how long to wait (429 or 503 with Retry-After): retried no sooner. */
export class DeliveryDeferred extends Error {
  override readonly name = 'DeliveryDeferred';
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** Longest wait a receiver's Retry-After is held to: one that asks for days must not silence it for days. */
const RETRY_AFTER_MAX_MS = 3_600_000;

/**
 * Every form of HTTP date (RFC 9110 §5.6.7) begins with the day's name: Date.parse alone would
 * take "-5" or "12.5" for dates of antiquity, and so for "now".
 */
const HTTP_DATE_START = /^[A-Za-z]{3,9},? /;

/** Retry-After, in seconds or as an HTTP date, as milliseconds from now (at most an hour); undefined if unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  const ms = /^\d+$/.test(text)
    ? Number(text) * 1000
    : HTTP_DATE_START.test(text)
      ? Date.parse(text) - now
      : Number.NaN;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS) : undefined;
}

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The target's name, without any credentials the URL holds. */
export function webhookName(url: string): string {
  const u = new URL(url);
  return `webhook ${u.origin}${u.pathname}`;
}

/** Of a receiver's answer, the hub reads this much at most: its status says all the hub needs. */
const ANSWER_READ_BYTES = 64 * 1024;

/**
 * Reads a short answer to its end, so its connection is used again, and stops reading a long one:
 * a receiver (or whatever answers in its place) could send gigabytes, all of it held in memory.
 */
async function readSome(response: Response): Promise<void> {
  const reader = response.body?.getReader();
  if (!reader) return;
  let read = 0;
  try {
    while (read <= ANSWER_READ_BYTES) {
      const chunk = await reader.read();
      if (chunk.done) return;
      read += (chunk.value as Uint8Array).byteLength;
    }
    await reader.cancel();
  } catch {
    // An answer cut short does not change what its status said.
  }
}

/**
 * POSTs a JSON body. Rejects with DeliveryRefused when the receiver refuses the body itself, and
 * with a plain error (retried) when it is unreachable or answers anything else but 2xx.
 */
export async function postJson(
  url: string,
  body: string,
  { headers = {}, timeoutMs = 10_000 }: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : (err as Error).message;
    throw new Error(`the receiver is not reachable: ${cause}`);
  }
  await readSome(response);
  if (REFUSED_STATUSES.has(response.status))
    throw new DeliveryRefused(`the receiver refused the notification (${response.status})`);
  const wait =
    response.status === 429 || response.status === 503 ? retryAfterMs(response.headers.get('retry-after')) : undefined;
  if (wait !== undefined)
    throw new DeliveryDeferred(
      `the receiver answered ${response.status}, asking to wait ${Math.round(wait / 1000)} s`,
      wait,
    );
  if (!response.ok) throw new Error(`the receiver answered ${response.status}`);
}

export function webhookTarget(
  hook: { url: string; secret: string },
  {
    timeoutMs = 10_000,
    deliveryPrefix = '',
    name = webhookName(hook.url),
  }: { timeoutMs?: number; deliveryPrefix?: string; name?: string } = {},
): OutboxTarget {
  return {
    name,
    // A webhook's path is often its secret (Slack's, Teams'): alerts name its server only.
    label: `webhook ${new URL(hook.url).origin}`,
    batch: 1,
    async deliver(rows) {
      // One POST per notice, grouped or not: a machine receiver dedupes and groups for itself.
      for (const row of rows)
        await postJson(hook.url, row.payload, {
          timeoutMs,
          headers: {
            'x-floorwatch-signature': signature(hook.secret, row.payload),
            'x-floorwatch-delivery': `${deliveryPrefix}${row.id}`,
          },
        });
    },
    refusedForGood: (err) => err instanceof DeliveryRefused,
    retryAfterMs: deferredFor,
  };
}

/** How long a receiver asked to be left alone, for OutboxTarget.retryAfterMs. */
export function deferredFor(err: unknown): number | undefined {
  return err instanceof DeliveryDeferred ? err.retryAfterMs : undefined;
}
