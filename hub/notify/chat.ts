// Chat channels: Microsoft Teams through a Workflows webhook (an Adaptive Card 1.5 in a message
// attachment, as the "post to a channel when a webhook request is received" flow takes it) and
// Slack through an incoming webhook (Block Kit). One post per group of notices; each layout
// stays inside its channel's limits (Slack: 50 blocks, 150-character headers, 3,000-character
// sections; Teams: a card of about 28 KB).
import { clip } from '../domain/clip.ts';
import { GROUP_BATCH, messageOf, type Message, type MessageItem } from './message.ts';
import type { OutboxTarget } from './outbox.ts';
import { deferredFor, DeliveryRefused, postJson } from './webhook.ts';

export function teamsCard(m: Message): unknown {
  const critical = m.items.some((i) => i.open && i.severity === 'critical');
  const item = (i: MessageItem) => ({
    type: 'Container',
    separator: true,
    items: [
      {
        type: 'TextBlock',
        text: clip(`${i.event} · ${i.severity}`, 200),
        weight: 'Bolder',
        color: !i.open ? 'Good' : i.severity === 'critical' ? 'Attention' : 'Warning',
        wrap: true,
      },
      { type: 'TextBlock', text: clip(i.summary, 1000), wrap: true },
      {
        type: 'FactSet',
        facts: [
          { title: 'Zone', value: i.zone },
          { title: 'When', value: i.at },
          { title: 'Alert', value: i.key },
          ...(i.code ? [{ title: 'Code', value: i.code }] : []),
          ...(i.ack ? [{ title: 'Acknowledged', value: clip(i.ack, 300) }] : []),
        ],
      },
    ],
  });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.5',
          body: [
            {
              type: 'TextBlock',
              text: clip(m.title, 300),
              size: 'Medium',
              weight: 'Bolder',
              wrap: true,
              ...(critical && { color: 'Attention' }),
            },
            ...m.items.map(item),
            ...(m.more > 0 ? [{ type: 'TextBlock', text: `… and ${m.more} more`, isSubtle: true, wrap: true }] : []),
          ],
        },
      },
    ],
  };
}

/** Slack's mrkdwn: only &, < and > need escaping. */
function mrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackBlocks(m: Message): { text: string; blocks: unknown[] } {
  const blocks: unknown[] = [{ type: 'header', text: { type: 'plain_text', text: clip(m.title, 150), emoji: false } }];
  for (const i of m.items) {
    const mark = !i.open ? ':white_check_mark:' : i.severity === 'critical' ? ':red_circle:' : ':warning:';
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(
          `${mark} *${mrkdwn(i.event)}* (${i.severity})\n${mrkdwn(i.summary)}${i.ack ? `\n_acknowledged by ${mrkdwn(i.ack)}_` : ''}`,
          3000,
        ),
      },
    });
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: clip(mrkdwn(`zone ${i.zone} · ${i.at} · ${i.key}${i.code ? ` · code ${i.code}` : ''}`), 3000),
        },
      ],
    });
  }
  if (m.more > 0) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `… and ${m.more} more` }] });
  return { text: clip(m.title, 3000), blocks };
}

/** A chat receiver: the group's notices laid out by `layout` and POSTed to `url`. */
export function chatTarget(name: string, url: string, layout: (m: Message) => unknown, timeZone: string): OutboxTarget {
  return {
    name,
    batch: GROUP_BATCH,
    async deliver(rows) {
      await postJson(url, JSON.stringify(layout(messageOf(rows, timeZone))));
    },
    refusedForGood: (err) => err instanceof DeliveryRefused,
    retryAfterMs: deferredFor,
  };
}
