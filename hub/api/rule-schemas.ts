// What the API shows of the rules: alerts and their history, silences, and the effective
// requirements of every zone, each number with its source. Shared by the alerts, zones and
// reports routes.
import { z } from 'zod';
import type { SiteRules } from '../rules/site.ts';
import { schemaOf } from './schemas.ts';
import { ZONE_TYPES, SEASONS } from '../domain/zone.ts';
import {
  ALERT_EVENT_KINDS,
  ALERT_KINDS,
  ALERT_STATES,
  type Alert,
  type AlertEvent,
  type Silence,
} from '../domain/alert.ts';
import { APPLIES, REQUIREMENT_KEYS, SEVERITIES, type Requirement, type Sourced } from '../domain/requirement.ts';

export const severity = z.enum(SEVERITIES);
export const zoneType = z.enum(ZONE_TYPES);

export const alert = schemaOf<Alert>()(
  z.object({
    id: z.number(),
    key: z.string().describe('rule + subject: one live alert per key'),
    rule: z.string(),
    subject: z.string().describe("the device, gateway or 'hub' the alert is about"),
    zone: z.string(),
    state: z.enum(ALERT_STATES),
    severity,
    summary: z.string().describe('in words'),
    value: z.number().optional().describe('the value that crossed the limit'),
    threshold: z.number().optional(),
    unit: z.string().optional(),
    source: z.string().optional().describe('where the limit comes from'),
    startsAt: z.number().describe('since when the condition held (pending start), ms since 1970'),
    firingAt: z.number().optional(),
    resolvedAt: z.number().optional(),
    criticalSince: z.number().optional().describe('since when it fires at critical, for escalation'),
    ack: z.object({ by: z.string(), at: z.number(), comment: z.string().optional() }).optional(),
    escalatedAt: z.number().optional(),
    code: z.string().optional().describe("the equipment's own fault code, as its heartbeat reported it"),
    reminded: z
      .array(z.tuple([z.string(), z.number()]))
      .optional()
      .describe('per route with a repeat interval: when the alert was last notified through it'),
    updatedAt: z.number(),
  }),
);

export const alertView = schemaOf<Alert & { silencedBy: number[] }>()(
  alert.extend({ silencedBy: z.array(z.number()).describe('the active silences that hold its notifications back') }),
);

export const alertEvent = schemaOf<AlertEvent>()(
  z.object({
    alertId: z.number(),
    key: z.string(),
    kind: z.enum(ALERT_EVENT_KINDS),
    at: z.number(),
    alert: alert.describe('the alert as it was after this event'),
    notified: z.boolean().describe('false when a silence or flapping held the notification back'),
    heldBy: z.string().optional().describe('why it was held'),
    late: z
      .literal(true)
      .optional()
      .describe('a notification sent late, once nothing held it any more; not a new transition'),
    route: z.string().optional().describe('a reminder: the route whose repeat interval it keeps'),
  }),
);

export const silence = schemaOf<Silence>()(
  z.object({
    id: z.number(),
    matchers: z.object({
      zone: z.string().optional(),
      device: z.string().optional(),
      rule: z.string().optional(),
      severity: severity.optional(),
      kind: z.enum(ALERT_KINDS).optional(),
      key: z.string().optional(),
    }),
    startsAt: z.number(),
    endsAt: z.number(),
    recurrence: z
      .object({
        every: z.enum(['week', 'month']),
        days: z.array(z.number()).optional().describe('weekly: the weekdays, 0 = Sunday'),
        nth: z.number().optional().describe('monthly: which of the month’s weekdays (1–4, -1 the last)'),
        weekday: z.number().optional().describe('monthly: the weekday, 0 = Sunday'),
        startMinute: z.number().describe('minutes after local midnight'),
        durationMs: z.number(),
        timeZone: z.string(),
      })
      .optional()
      .describe('a maintenance window that comes back, within startsAt and endsAt'),
    createdBy: z.string(),
    comment: z.string(),
    createdAt: z.number(),
  }),
);

const sourced = schemaOf<Sourced>()(
  z.object({
    value: z.number(),
    source: z.string().describe('the standard, guideline or practice the number comes from'),
    judgement: z.literal(true).optional().describe('engineering judgement rather than a standard'),
  }),
);

const requirement = schemaOf<Requirement>()(
  z.object({
    key: z.enum(REQUIREMENT_KEYS),
    metric: z.string(),
    title: z.string(),
    unit: z.string(),
    applies: z
      .enum(APPLIES)
      .describe("when it is judged: in the zone's opening hours (occupied), outside them (unoccupied), or always"),
    limits: z.array(
      z.object({
        severity,
        when: z.enum(['above', 'below']),
        inclusive: z.boolean(),
        threshold: sourced,
        over: z
          .discriminatedUnion('kind', [
            z.object({ kind: z.literal('last') }),
            z.object({ kind: z.enum(['mean', 'laeq', 'max', 'rise']), windowMs: z.number() }),
            z.object({ kind: z.literal('lex8h') }),
          ])
          .describe(
            'what the limit is compared with: the latest value, an aggregate over a window, or the projected daily exposure LEX,8h',
          ),
        for: sourced.describe('how long the condition must hold before the alert fires'),
      }),
    ),
    hysteresis: sourced
      .extend({ percent: z.literal(true).optional() })
      .describe('how far back inside the band a firing limit clears (a percentage of it when percent)'),
    keepFiringFor: sourced.describe('how long a cleared condition keeps the alert firing'),
  }),
);

export const siteRules = schemaOf<SiteRules>()(
  z.object({
    season: z.enum(SEASONS),
    seasonFrom: z.enum(['config', 'calendar']),
    zones: z.array(
      z.object({
        zone: z.string(),
        name: z.string().optional(),
        type: zoneType,
        requirements: z.array(requirement).readonly(),
        occupancy: z.enum(['occupied', 'unoccupied']).describe('open or closed now, by its opening hours'),
        judgedNow: z
          .array(z.string())
          .readonly()
          .describe('the keys of the requirements judged now, by when each applies and the zone’s hours'),
      }),
    ),
    liveness: z.object({
      silentIntervals: sourced,
      mainsCriticalMs: sourced,
      batteryCriticalMs: sourced,
      freshMessagesToRecover: sourced,
      staleIntervals: sourced,
    }),
    flapping: z.object({ changes: sourced, windowMs: sourced, quietMs: sourced }),
    hub: z.object({
      backlogEntries: sourced,
      diskFreeWarningPercent: sourced,
      diskFreeCriticalPercent: sourced,
      storageDownAfterMs: z.number(),
      notifyFailingAfterMs: z.number(),
      storageRejectingClearsAfterMs: z.number(),
      startupGraceMs: z.number(),
      escalateAfterMs: z.number(),
    }),
  }),
);
