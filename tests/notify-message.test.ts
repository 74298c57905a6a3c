// The words and layouts of a notice for people: a group summed up in its title, times in the
// site's time zone, what devices reported escaped for each channel, and each channel's limits
// kept however many alerts a group holds.
import { describe, expect, it } from 'vitest';
import type { Alert } from '../hub/domain/alert.ts';
import { slackBlocks, teamsCard } from '../hub/notify/chat.ts';
import { emailHtml, emailText } from '../hub/notify/email.ts';
import { message } from '../hub/notify/message.ts';
import type { AlertNotice } from '../hub/notify/notifier.ts';

const AT = Date.UTC(2026, 10, 30, 13, 5);

function notice(i: number, fields: Partial<Alert> = {}, event: AlertNotice['event'] = 'firing'): AlertNotice {
  return {
    site: 'Harbour',
    event,
    late: false,
    at: AT,
    alert: {
      id: i,
      key: `offline.hs-${i}`,
      rule: 'offline',
      subject: `hs-${i}`,
      zone: 'floor-b',
      state: event === 'resolved' ? 'resolved' : 'firing',
      severity: 'warning',
      summary: `headset hs-${i} in floor-b is offline`,
      startsAt: AT,
      updatedAt: AT,
      ...fields,
    },
  };
}

describe('notices for people', () => {
  it('sums a group up in its title and gives times in the site’s time zone', () => {
    const m = message([notice(1), notice(2), notice(3, {}, 'resolved')], 'Europe/London');
    expect(m.title).toBe('Harbour: 2 open, 1 resolved — zone floor-b, offline');
    expect(m.items[0]?.at).toBe('Mon 30 Nov, 13:05');
    expect(message([notice(1)], 'Asia/Shanghai').items[0]?.at).toBe('Mon 30 Nov, 21:05');
    expect(message([notice(1, { severity: 'critical' })], 'UTC').title).toBe(
      'Harbour: [CRITICAL] Firing: headset hs-1 in floor-b is offline',
    );
  });

  it('escapes what devices reported, in HTML and in Slack’s mrkdwn', () => {
    const hostile = notice(1, { summary: '<script>x</script> <!channel> & <http://evil|click>', subject: '__proto__' });
    const m = message([hostile], 'UTC');
    expect(emailHtml(m)).not.toContain('<script>');
    expect(emailHtml(m)).toContain('&lt;script&gt;');
    const text = JSON.stringify(slackBlocks(m).blocks.slice(1));
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt; &amp; &lt;http://evil|click&gt;');
    expect(emailText(m)).toContain('<script>x</script>');
  });

  it('keeps each channel’s limits for a group of two hundred alerts with long texts', () => {
    const many = Array.from({ length: 200 }, (_, i) => notice(i, { summary: 'x'.repeat(5000) }));
    const m = message(many, 'UTC');
    expect(m.items).toHaveLength(20);
    expect(m.more).toBe(180);
    const slack = slackBlocks(m);
    expect(slack.blocks.length).toBeLessThanOrEqual(50);
    for (const b of slack.blocks as Array<{ type: string; text?: { text: string } }>)
      expect(b.text?.text.length ?? 0).toBeLessThanOrEqual(b.type === 'header' ? 150 : 3000);
    const card = teamsCard(m) as { attachments: Array<{ content: { body: Array<{ type: string; text?: string }> } }> };
    const body = card.attachments[0]!.content.body;
    expect(body.at(-1)?.text).toBe('… and 180 more');
    expect(JSON.stringify(card).length).toBeLessThan(28_000);
  });
});
