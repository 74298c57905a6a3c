// Alerts, silences and the effective rules:
//   GET  /api/v1/alerts[?state=&zone=&severity=&limit=]   newest first
//   GET  /api/v1/alerts/{id}                               with its history
//   POST /api/v1/alerts/{id}/ack                           {"by": "...", "comment": "..."}
//   GET|POST /api/v1/silences, DELETE /api/v1/silences/{id}
//   GET  /api/v1/rules                                     every zone's requirements, each number with its source
// Acknowledgements and silences change alert state, so they go through the rule engine.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseDuration } from '../config/duration.ts';
import { FILE_SILENCE, isFileSilence, recurrenceSchema, toRecurrence } from '../config/silences.ts';
import type { SiteRules } from '../rules/site.ts';
import type { Audit } from '../security/audit.ts';
import {
  choiceParam,
  idParam,
  limitParam,
  refuse,
  resolveTime,
  serialParam,
  signedBy,
  textParam,
  TIME_FORMS,
} from './params.ts';
import { alertEvent, alertView, silence, siteRules } from './rule-schemas.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, refusal } from './schemas.ts';
import {
  ALERT_KINDS,
  ALERT_STATES,
  inForce,
  RULE_PATTERN,
  type Alert,
  type AlertChanges,
  type AlertView,
  type Recurrence,
  type SilenceMatchers,
} from '../domain/alert.ts';
import { SEVERITIES } from '../domain/requirement.ts';

export interface AlertsRoutesOptions {
  /** Reads from the ledger's read-only view; an operator's change through the rule engine, which saves it. */
  engine: AlertView & AlertChanges;
  rules: () => SiteRules;
  now: () => number;
  /** The site's time zone: recurring maintenance windows keep its wall-clock times. */
  timeZone: string;
  /** Who acknowledged or silenced what: the signed-in token as well as the name given. */
  audit: Audit;
}

const MAX_SILENCE_MS = 90 * 86_400_000;
/** A recurring window is in force for at most five years, a year unless told otherwise. */
const MAX_RECURRING_MS = 5 * 365 * 86_400_000;
const DEFAULT_RECURRING_MS = 365 * 86_400_000;
const NOT_AN_OBJECT = 'send a JSON object';

/** Text a person types, such as a comment; empty is the same as not given. */
function typed(name: string, max: number) {
  const problem = `${name} must be text of at most ${max} characters`;
  return z
    .string({ error: problem })
    .max(max, { error: problem })
    .nullable()
    .optional()
    .transform((value) => (value === null || value === '' ? undefined : value));
}

/** Who is acting on an alert or silence: never a name the configuration file's silences carry. */
function signedByOperator(name: string) {
  return signedBy(name).refine((who) => !isFileSilence({ createdBy: who }), {
    error: `${name} may not start with "${FILE_SILENCE} (": that names the silences the configuration file keeps`,
  });
}

/** A time in a body: ms since 1970 as a number, or any form the query parameters take. */
function timeField(name: string) {
  return z.union([z.number(), z.string()], {
    error: (issue) =>
      `${name}=${issue.input === undefined ? 'nothing' : JSON.stringify(issue.input).slice(0, 80)} is not a time: use ${TIME_FORMS}`,
  });
}

const alertId = z.object({ id: serialParam('alert id').describe('the alert id') });
const silenceId = z.object({ id: serialParam('silence id').describe('the silence id') });

export const alertsRoutes: FastifyPluginAsyncZod<AlertsRoutesOptions> = async (
  app,
  { engine, rules, now, timeZone, audit },
) => {
  /** Alerts as answered, each with the silences holding it back: those in force are read once per answer. */
  const views = (alerts: Alert[]) => {
    const silencedBy = engine.silencedNow();
    return alerts.map((a) => ({ ...a, silencedBy: silencedBy(a) }));
  };
  const view = (a: Alert) => ({ ...a, silencedBy: engine.silencedNow()(a) });

  app.get(
    '/api/v1/alerts',
    {
      schema: {
        summary: 'Alerts, newest first (filters: state, zone, severity)',
        querystring: z.object({
          state: choiceParam('state', ALERT_STATES).optional().describe('pending, firing or resolved'),
          zone: idParam('zone').optional().describe('only alerts of this zone'),
          severity: choiceParam('severity', SEVERITIES).optional().describe('warning or critical'),
          limit: limitParam('limit', 10_000).optional().describe('most alerts returned, 1 to 10000'),
        }),
        response: {
          200: z.object({ alerts: z.array(alertView).describe('newest first') }).describe('alerts'),
          400: BAD_REQUEST,
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request) => {
      const { state, zone, severity, limit } = request.query;
      const alerts = engine.alerts({
        ...(state && { state }),
        ...(zone && { zone }),
        ...(severity && { severity }),
        ...(limit && { limit }),
      });
      return { alerts: views(alerts) };
    },
  );

  app.get(
    '/api/v1/alerts/:id',
    {
      schema: {
        summary: 'One alert with its history',
        params: alertId,
        response: {
          200: alertView
            .extend({
              history: z
                .array(alertEvent)
                .describe(
                  'its transitions, oldest first: of one with more than 1,000 (a reminder adds one each time), the first and the newest 999',
                ),
              historyOmitted: z
                .number()
                .describe(
                  'transitions not in `history`, those between its first and the newest 999; 0 when all are shown',
                ),
            })
            .describe('the alert'),
          400: BAD_REQUEST,
          404: refusal('no alert of this id (resolved alerts are kept 90 days)'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const alert = engine.alert(id);
      if (!alert) return reply.code(404).send({ error: 'Not Found', message: `no alert ${id}` });
      const { shown, total } = engine.history(id);
      return { ...view(alert), history: shown, historyOmitted: total - shown.length };
    },
  );

  app.post(
    '/api/v1/alerts/:id/ack',
    {
      schema: {
        summary: 'Acknowledge an alert: {"by": "...", "comment": "..."}; stops its escalation',
        params: alertId,
        body: z.object(
          {
            by: signedByOperator('by').describe('who acknowledges, up to 100 characters'),
            comment: typed('comment', 1000).describe('up to 1000 characters'),
          },
          { error: NOT_AN_OBJECT },
        ),
        response: {
          200: alertView.describe('the alert, acknowledged'),
          400: BAD_REQUEST,
          404: refusal('no alert of this id'),
          409: refusal('the alert is already resolved: nothing to acknowledge'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { by, comment } = request.body;
      const acked = view(await engine.ack(id, by, comment));
      audit(request.actor, 'alert.ack', { alert: id, by, ...(comment !== undefined && { comment }) });
      return acked;
    },
  );

  app.get(
    '/api/v1/silences',
    {
      schema: {
        summary: 'Silences, active and scheduled',
        response: {
          200: z
            .object({ silences: z.array(silence.extend({ active: z.boolean().describe('in force now') })) })
            .describe('silences'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async () => {
      const at = now();
      return { silences: engine.silences().map((s) => ({ ...s, active: inForce(s, at) })) };
    },
  );

  const matchers = z.strictObject(
    {
      zone: idParam('matchers.zone', 'body').optional(),
      device: idParam('matchers.device', 'body').optional(),
      rule: textParam('matchers.rule', { source: 'body' })
        .regex(RULE_PATTERN, {
          error: (issue) =>
            `matchers.rule=${JSON.stringify(String(issue.input).slice(0, 80))} is not a rule name such as noise, offline or equipment.headset`,
        })
        .optional(),
      severity: choiceParam('matchers.severity', SEVERITIES, 'body').optional(),
      kind: choiceParam('matchers.kind', ALERT_KINDS, 'body').optional(),
      key: textParam('matchers.key', { source: 'body' })
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/, {
          error: 'matchers.key must be an alert key such as offline.hs-a2',
        })
        .optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `matchers: unknown field(s) ${issue.keys.join(', ')} (use zone, device, rule, severity, kind, key)`
          : 'matchers must be a JSON object, such as {"zone": "floor-a"}',
    },
  );

  const silenceBody = z
    .object(
      {
        matchers: matchers
          .optional()
          .describe(
            'what to silence: at least one of zone, device, rule (such as noise, offline, equipment.headset), severity, kind (environment, equipment, offline, …), key',
          ),
        recurrence: recurrenceSchema
          .optional()
          .describe('a maintenance window that comes back, weekly or monthly, in the site’s time zone'),
        startsAt: timeField('startsAt').optional().describe(`when it starts: ${TIME_FORMS} (default now)`),
        endsAt: timeField('endsAt').optional().describe('when it ends, as startsAt; or give duration'),
        duration: textParam('duration', { source: 'body' })
          .optional()
          .describe('how long it lasts, such as 2h (when endsAt is not given); at most 90 days'),
        createdBy: signedByOperator('createdBy').describe('who silences, up to 100 characters'),
        comment: typed('comment', 1000).describe('why, up to 1000 characters'),
      },
      { error: NOT_AN_OBJECT },
    )
    .transform((body, ctx) => {
      // Zod gets here even past an unknown matcher (unknown keys do not stop it): that alone is said.
      if (ctx.issues.length > 0) return z.NEVER;
      const given: SilenceMatchers = body.matchers ?? {};
      if (Object.keys(given).length === 0)
        return refuse(
          ctx,
          'matchers needs at least one of zone, device, rule, severity, kind, key: a silence of everything is not allowed',
        );
      const at = now();
      const time = (name: string, value: number | string | undefined) =>
        resolveTime(ctx, name, value === undefined ? undefined : String(value), at, at);
      const startsAt = time('startsAt', body.startsAt);
      let endsAt = body.endsAt === undefined ? undefined : time('endsAt', body.endsAt);
      if (startsAt === undefined || (body.endsAt !== undefined && endsAt === undefined)) return z.NEVER;
      const r = body.recurrence;
      if (endsAt === undefined) {
        const duration = body.duration === undefined ? undefined : parseDuration(body.duration);
        if (body.duration !== undefined && duration === undefined)
          return refuse(ctx, `duration=${JSON.stringify(body.duration.slice(0, 40))} is not a duration such as "2h"`);
        if (duration === undefined && r === undefined)
          return refuse(ctx, 'give endsAt (a time) or duration (such as "2h")');
        endsAt = startsAt + (duration ?? DEFAULT_RECURRING_MS);
      }
      if (endsAt <= startsAt || endsAt <= at)
        return refuse(
          ctx,
          `endsAt (${new Date(endsAt).toISOString()}) must be after startsAt and in the future: the silence would never be in force`,
        );
      if (r === undefined && endsAt - startsAt > MAX_SILENCE_MS)
        return refuse(ctx, 'a silence may last at most 90 days: make endsAt (or the duration) sooner');
      if (endsAt - startsAt > MAX_RECURRING_MS)
        return refuse(ctx, 'a recurring window may be in force for at most 5 years: make endsAt sooner');
      const recurrence: Recurrence | undefined = r && toRecurrence(r, timeZone);
      return {
        matchers: given,
        startsAt,
        endsAt,
        ...(recurrence && { recurrence }),
        createdBy: body.createdBy,
        comment: body.comment ?? '',
      };
    });

  app.post(
    '/api/v1/silences',
    {
      schema: {
        summary:
          'Silence notifications: {"matchers": {"zone","device","rule","severity","kind","key"}, "endsAt" or "duration", "createdBy", "comment"}; a maintenance window that comes back adds "recurrence": {"every": "week", "days": ["tue"], "start": "02:00", "duration": "2h"} or {"every": "month", "nth": 3, "weekday": "tue", …}',
        body: silenceBody,
        response: {
          201: silence.describe('the silence, created'),
          400: BAD_REQUEST,
          409: refusal('as many silences are kept as allowed (2000): end some first'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const created = await engine.addSilence(request.body);
      const { matchers: given, startsAt, endsAt, recurrence, createdBy, comment } = request.body;
      audit(request.actor, 'silence.create', {
        silence: created.id,
        matchers: given,
        startsAt,
        endsAt,
        ...(recurrence && { recurrence }),
        createdBy,
        comment,
      });
      return reply.code(201).send(created);
    },
  );

  app.delete(
    '/api/v1/silences/:id',
    {
      schema: {
        summary: 'End a silence',
        params: silenceId,
        response: {
          204: z.undefined().describe('ended'),
          400: BAD_REQUEST,
          404: refusal('no silence of this id'),
          409: refusal('the configuration file keeps this silence: remove it there and reload'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const kept = engine.silences().find((s) => s.id === id);
      if (kept && isFileSilence(kept))
        return reply.code(409).send({
          error: 'Conflict',
          message: `silence ${id} is kept by the configuration file (${kept.createdBy}): remove it there and reload`,
        });
      if (!(await engine.removeSilence(id)))
        return reply.code(404).send({ error: 'Not Found', message: `no silence ${id}` });
      audit(request.actor, 'silence.delete', { silence: id });
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/v1/rules',
    {
      schema: {
        summary: 'Effective rules per zone, with the source of every number',
        response: {
          200: siteRules.describe(
            "the season, and every zone's requirements with their limits; liveness, flapping and the hub's own health",
          ),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async () => rules(),
  );
};
