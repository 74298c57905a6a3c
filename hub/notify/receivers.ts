// The site's receivers (`notify.receivers`) as outbox targets, each named "receiver <name>": every
// one delivers through the durable outbox, so retries, delivery ids and restarts are the same for
// email, Teams, Slack and webhooks.
import type { ReceiverConfig } from '../config/notify.ts';
import { chatTarget, slackBlocks, teamsCard } from './chat.ts';
import { emailTarget, type RefusedSome } from './email.ts';
import type { OutboxTarget } from './outbox.ts';
import { webhookTarget } from './webhook.ts';

export function receiverTargetName(receiver: string): string {
  return `receiver ${receiver}`;
}

export function receiverTarget(
  r: ReceiverConfig,
  options: { timeZone: string; deliveryPrefix?: string; refusedSome?: RefusedSome },
): OutboxTarget {
  const { timeZone, deliveryPrefix = '' } = options;
  const name = receiverTargetName(r.name);
  if (r.email) return emailTarget(name, r.email, timeZone, options.refusedSome);
  if (r.teams) return chatTarget(name, r.teams.url, teamsCard, timeZone);
  if (r.slack) return chatTarget(name, r.slack.url, slackBlocks, timeZone);
  if (r.webhook) return webhookTarget(r.webhook, { name, deliveryPrefix });
  // The configuration refuses a receiver without exactly one channel.
  throw new Error(`receiver ${r.name} has no channel`);
}
