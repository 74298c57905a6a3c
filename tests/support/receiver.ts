// An HTTP receiver for what the hub posts (webhooks, Slack, Teams): every body, parsed, in order;
// and an outbox row of one alert's notice, for a receiver to be handed.
import { createServer } from 'node:http';
import type { AlertNotice } from '../../hub/notify/notifier.ts';
import type { OutboxRow } from '../../hub/notify/outbox.ts';

/** The outbox row of "headset hs-1 in floor-b is offline", firing at `at`. */
export function offlineNoticeRow(at: number): OutboxRow {
  const notice: AlertNotice = {
    site: 'Harbour',
    event: 'firing',
    late: false,
    at,
    alert: {
      id: 1,
      key: 'offline.hs-1',
      rule: 'offline',
      subject: 'hs-1',
      zone: 'floor-b',
      state: 'firing',
      severity: 'warning',
      summary: 'headset hs-1 in floor-b is offline',
      startsAt: at,
      updatedAt: at,
    },
  };
  return { id: 1, payload: JSON.stringify(notice), createdAt: at, grp: null };
}

export interface Post {
  path: string;
  body: Record<string, unknown>;
}

export interface PostReceiver {
  /** The receiver's base URL: http://127.0.0.1:<port>. */
  url: string;
  posts: Post[];
  close(): Promise<void>;
}

/** Answers every POST with `status(path)` (200 unless told), after recording it. */
export async function startPostReceiver(status: (path: string) => number = () => 200): Promise<PostReceiver> {
  const posts: Post[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '';
      posts.push({ path, body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(status(path)).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    posts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
