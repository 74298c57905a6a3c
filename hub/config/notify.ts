// The `notify` section: who hears of alerts, and how. Receivers (email, Microsoft Teams, Slack, a
// signed webhook) and a tree of routes that picks the receivers of each alert by what it is about,
// as Alertmanager's does: first match wins unless `continue`, a child route refines its parent and
// inherits its grouping and reminders. The `webhooks` of earlier releases still get every notice.
import { z } from 'zod';
import { ALERT_KINDS } from '../domain/alert.ts';
import { SEVERITIES } from '../domain/requirement.ts';
import { duration, flag, id, integer, listedOnce, notListed } from './fields.ts';

const secret = z.string().min(16, { error: 'must be at least 16 characters: receivers check the signature with it' });
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** One value, or any of several. */
function oneOrMore<T extends z.ZodType>(value: T) {
  return z.union([value, z.array(value).min(1).max(200)]);
}

const text = z.string().min(1).max(200);

export const routeMatchSchema = z.strictObject({
  severity: oneOrMore(z.enum(SEVERITIES)).optional(),
  zone: oneOrMore(text).optional(),
  /** What the alert is about: environment, equipment, offline, stale, hub or flapping. */
  kind: oneOrMore(z.enum(ALERT_KINDS)).optional(),
  /** The rule, e.g. temperature or equipment.headset; a rule also matches its sub-rules. */
  rule: oneOrMore(text).optional(),
  /** The alert's key (rule.subject), e.g. offline.hs-a2. */
  key: oneOrMore(text).optional(),
  /** The device, gateway or hub the alert is about. */
  device: oneOrMore(text).optional(),
});

export const GROUP_FIELDS = ['zone', 'kind', 'rule', 'severity', 'device', 'key'] as const;

interface RouteInput {
  match?: z.input<typeof routeMatchSchema>;
  receiver?: string;
  continue?: boolean | 'true' | 'false';
  group_by?: (typeof GROUP_FIELDS)[number][];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: RouteInput[];
}

export interface RouteConfig {
  match: z.output<typeof routeMatchSchema>;
  receiver?: string;
  continue: boolean;
  group_by?: (typeof GROUP_FIELDS)[number][];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes: RouteConfig[];
}

export const routeSchema: z.ZodType<RouteConfig, RouteInput> = z.lazy(() =>
  z.strictObject({
    match: routeMatchSchema.default({}),
    receiver: id.optional(),
    continue: flag.default(false),
    /** The fields whose values make a group: its alerts go out as one notice. */
    group_by: z.array(z.enum(GROUP_FIELDS)).max(GROUP_FIELDS.length).optional(),
    /** How long a new group waits for more alerts before its first notice. */
    group_wait: duration.optional(),
    /** How long a group that was notified waits before telling what changed since. */
    group_interval: duration.optional(),
    /** A firing, unacknowledged alert is notified again this often. */
    repeat_interval: duration.optional(),
    routes: z.array(routeSchema).max(100).default([]),
  }),
);

export const receiverSchema = z
  .strictObject({
    name: id,
    email: z
      .strictObject({
        to: z
          .array(z.email({ error: 'must be an email address' }))
          .min(1)
          .max(50),
        from: z.email({ error: 'must be an email address' }),
        /** smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps:// (TLS from the start). */
        smtp: z.string().regex(/^smtps?:\/\/[^\s/]+\/?$/, {
          error: 'must be an SMTP URL such as smtp://mail.example.com:587 or smtps://user:password@mail.example.com',
        }),
        /** Refuse to send unless the server takes STARTTLS (smtp://). */
        require_tls: flag.default(false),
        /** A PEM CA file for a mail server with a private CA. */
        ca: z.string().min(1).optional(),
      })
      .optional(),
    /** A Microsoft Teams Workflows webhook ("Post to a channel when a webhook request is received"). */
    teams: z.strictObject({ url: httpUrl }).optional(),
    /** A Slack incoming webhook. */
    slack: z.strictObject({ url: httpUrl }).optional(),
    /** The hub's signed JSON webhook, one POST per notice. */
    webhook: z.strictObject({ url: httpUrl, secret }).optional(),
  })
  .refine((r) => [r.email, r.teams, r.slack, r.webhook].filter(Boolean).length === 1, {
    error: 'needs exactly one of email, teams, slack or webhook',
  });

export const notifySection = z
  .strictObject({
    /** Each alert transition is POSTed to every webhook, signed with its secret (HMAC-SHA256). */
    webhooks: z.array(z.strictObject({ url: httpUrl, secret })).default([]),
    receivers: z.array(receiverSchema).max(100).default([]),
    /** Which receivers hear of which alerts; without routes, every receiver hears of every alert. */
    routes: z.array(routeSchema).max(100).default([]),
    /** The receiver of alerts no route matches; without it they go to MQTT, the floor page and the log only. */
    default_receiver: id.optional(),
    /** Grouping and reminders for routes that do not set their own. */
    group_by: z.array(z.enum(GROUP_FIELDS)).max(GROUP_FIELDS.length).default(['zone', 'kind']),
    group_wait: duration.default('10s'),
    group_interval: duration.default('1m'),
    /** Delivery retries start this soon and double up to retry_max; undelivered ones wait on disk. */
    retry_first: duration.default('1s'),
    retry_max: duration.default('5m'),
    /**
     * Notifications kept waiting for each receiver (webhook, bridge, the store's alert history)
     * that cannot take them; past it the oldest are dropped, logged and counted.
     */
    max_undelivered: integer(10, 10_000_000).default(10_000),
  })
  .prefault({});

export type NotifyConfig = z.output<typeof notifySection>;
export type ReceiverConfig = z.output<typeof receiverSchema>;

/** Receivers named once, every route and the default naming a receiver that exists, every route reaching one. */
export function checkNotify(notify: NotifyConfig, ctx: z.core.$RefinementCtx): void {
  const names = listedOnce(
    notify.receivers.map((r) => r.name),
    'receiver',
    (i) => ['notify', 'receivers', i, 'name'],
    ctx,
  );
  if (notify.default_receiver !== undefined && !names.has(notify.default_receiver))
    ctx.addIssue({
      code: 'custom',
      path: ['notify', 'default_receiver'],
      message: notListed('receiver', notify.default_receiver, 'notify.receivers', names),
      input: notify.default_receiver,
    });
  const walk = (
    routes: readonly RouteConfig[],
    path: (string | number)[],
    inherited: string | undefined,
    depth: number,
  ) => {
    routes.forEach((route, i) => {
      const at = [...path, i];
      if (depth > 5) ctx.addIssue({ code: 'custom', path: at, message: 'routes nest at most 5 deep', input: route });
      if (route.receiver !== undefined && !names.has(route.receiver))
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'receiver'],
          message: notListed('receiver', route.receiver, 'notify.receivers', names),
          input: route.receiver,
        });
      const receiver = route.receiver ?? inherited;
      if (receiver === undefined && route.routes.length === 0)
        ctx.addIssue({
          code: 'custom',
          path: at,
          message: 'needs a receiver (its own or its parent route’s), or routes under it',
          input: route,
        });
      walk(route.routes, [...at, 'routes'], receiver, depth + 1);
    });
  };
  walk(notify.routes, ['notify', 'routes'], undefined, 1);
}
