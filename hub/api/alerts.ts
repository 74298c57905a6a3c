// Alerts, silences and the effective rules:
//   GET  /api/v1/alerts[?state=&zone=&severity=&limit=]   newest first
//   GET  /api/v1/alerts/{id}                               with its history
//   POST /api/v1/alerts/{id}/ack                           {"by": "...", "comment": "..."}
//   GET|POST /api/v1/silences, DELETE /api/v1/silences/{id}
//   GET  /api/v1/rules                                     every zone's requirements, each number with its source
// Acknowledgements and silences change alert state, so they go through the rule engine.
import type { FastifyPluginAsync } from 'fastify';
import { parseDuration } from '../config/duration.ts';
import type { RuleEngine } from '../rules/engine.ts';
import { ALERT_STATES, type Alert, type AlertView, type SilenceMatchers } from '../rules/ledger.ts';
import { SEVERITIES } from '../rules/requirements.ts';
import type { SiteRules } from '../rules/site.ts';
import type { Audit } from '../security/audit.ts';
import { BadRequest, parseChoice, parseId, parseLimit, parseTime, single } from './params.ts';

export interface AlertsRoutesOptions {
  /** Reads from the ledger's read-only view; an operator's change through the rule engine, which saves it. */
  engine: AlertView & Pick<RuleEngine, 'ack' | 'addSilence' | 'removeSilence'>;
  rules: () => SiteRules;
  now: () => number;
  /** Who acknowledged or silenced what: the signed-in token as well as the name given. */
  audit: Audit;
}

const RULE = /^[a-z][a-z_]{0,40}(\.[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$/;
const MAX_SILENCE_MS = 90 * 86_400_000;

function text(body: Record<string, unknown>, name: string, max: number, required: boolean): string | undefined {
  const value = body[name];
  if (value === undefined || value === null || value === '') {
    if (required) throw new BadRequest(`${name} is required: say who you are, e.g. {"${name}": "li.wei"}`);
    return undefined;
  }
  if (typeof value !== 'string' || value.length > max) throw new BadRequest(`${name} must be text of at most ${max} characters`);
  return value;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('send a JSON object');
  return body as Record<string, unknown>;
}

function alertId(params: unknown): number {
  const raw = (params as { id: string }).id;
  const id = Number(raw);
  if (!/^\d{1,15}$/.test(raw) || !Number.isSafeInteger(id)) throw new BadRequest(`alert id ${JSON.stringify(raw.slice(0, 40))} must be a whole number`);
  return id;
}

export const alertsRoutes: FastifyPluginAsync<AlertsRoutesOptions> = async (app, { engine, rules, now, audit }) => {
  const view = (a: Alert) => ({ ...a, silencedBy: engine.isSilenced(a) });

  app.get('/api/v1/alerts', { schema: { summary: 'Alerts, newest first (filters: state, zone, severity)' } }, async (request) => {
    const q = request.query;
    const state = parseChoice('state', single(q, 'state'), ALERT_STATES);
    const zone = parseId('zone', single(q, 'zone'));
    const severity = parseChoice('severity', single(q, 'severity'), SEVERITIES);
    const limit = parseLimit('limit', single(q, 'limit'), 10_000);
    const alerts = engine.alerts({ ...(state && { state }), ...(zone && { zone }), ...(severity && { severity }), ...(limit && { limit }) });
    return { alerts: alerts.map(view) };
  });

  app.get('/api/v1/alerts/:id', { schema: { summary: 'One alert with its history' } }, async (request, reply) => {
    const id = alertId(request.params);
    const alert = engine.alert(id);
    if (!alert) {
      reply.code(404);
      return { error: 'Not Found', message: `no alert ${id}` };
    }
    return { ...view(alert), history: engine.history(id) };
  });

  app.post('/api/v1/alerts/:id/ack', { schema: { summary: 'Acknowledge an alert: {"by": "...", "comment": "..."}; stops its escalation' } }, async (request) => {
    const id = alertId(request.params);
    const body = objectBody(request.body);
    const by = text(body, 'by', 100, true)!;
    const comment = text(body, 'comment', 1000, false);
    const acked = view(engine.ack(id, by, comment));
    audit(request.actor, 'alert.ack', { alert: id, by, ...(comment !== undefined && { comment }) });
    return acked;
  });

  app.get('/api/v1/silences', { schema: { summary: 'Silences, active and scheduled' } }, async () => {
    const at = now();
    return { silences: engine.silences().map((s) => ({ ...s, active: s.startsAt <= at && at < s.endsAt })) };
  });

  app.post('/api/v1/silences', { schema: { summary: 'Silence notifications: {"matchers": {"zone","device","rule","severity"}, "endsAt" or "duration", "createdBy", "comment"}' } }, async (request, reply) => {
    const body = objectBody(request.body);
    const m = body.matchers === undefined ? {} : objectBody(body.matchers);
    const unknown = Object.keys(m).filter((k) => !['zone', 'device', 'rule', 'severity'].includes(k));
    if (unknown.length > 0) throw new BadRequest(`matchers: unknown field(s) ${unknown.join(', ')} (use zone, device, rule, severity)`);
    const str = (name: string) => {
      const v = m[name];
      if (v !== undefined && typeof v !== 'string') throw new BadRequest(`matchers.${name} must be text`);
      return v;
    };
    const rule = str('rule');
    if (rule !== undefined && !RULE.test(rule)) throw new BadRequest(`matchers.rule=${JSON.stringify(rule.slice(0, 80))} is not a rule name such as noise, offline or equipment.headset`);
    const zone = parseId('matchers.zone', str('zone'));
    const device = parseId('matchers.device', str('device'));
    const severity = parseChoice('matchers.severity', str('severity'), SEVERITIES);
    const matchers: SilenceMatchers = { ...(zone && { zone }), ...(device && { device }), ...(rule && { rule }), ...(severity && { severity }) };
    if (Object.keys(matchers).length === 0) throw new BadRequest('matchers needs at least one of zone, device, rule, severity: a silence of everything is not allowed');
    const at = now();
    const timeField = (name: string) => {
      const v = body[name];
      if (v === undefined) return undefined;
      return parseTime(name, typeof v === 'number' ? String(v) : typeof v === 'string' ? v : 'not a time', at, at);
    };
    const startsAt = timeField('startsAt') ?? at;
    let endsAt = timeField('endsAt');
    if (endsAt === undefined) {
      const duration = typeof body.duration === 'string' ? parseDuration(body.duration) : undefined;
      if (duration === undefined) throw new BadRequest('give endsAt (a time) or duration (such as "2h")');
      endsAt = startsAt + duration;
    }
    if (endsAt <= startsAt || endsAt <= at) throw new BadRequest(`endsAt (${new Date(endsAt).toISOString()}) must be after startsAt and in the future: the silence would never be in force`);
    if (endsAt - startsAt > MAX_SILENCE_MS) throw new BadRequest('a silence may last at most 90 days: make endsAt (or the duration) sooner');
    const createdBy = text(body, 'createdBy', 100, true)!;
    const comment = text(body, 'comment', 1000, false) ?? '';
    const silence = engine.addSilence({ matchers, startsAt, endsAt, createdBy, comment });
    audit(request.actor, 'silence.create', { silence: silence.id, matchers, startsAt, endsAt, createdBy, comment });
    reply.code(201);
    return silence;
  });

  app.delete('/api/v1/silences/:id', { schema: { summary: 'End a silence' } }, async (request, reply) => {
    const raw = (request.params as { id: string }).id;
    const id = Number(raw);
    if (!/^\d{1,15}$/.test(raw)) throw new BadRequest(`silence id ${JSON.stringify(raw.slice(0, 40))} must be a whole number`);
    if (!engine.removeSilence(id)) {
      reply.code(404);
      return { error: 'Not Found', message: `no silence ${id}` };
    }
    audit(request.actor, 'silence.delete', { silence: id });
    reply.code(204);
    return null;
  });

  app.get('/api/v1/rules', { schema: { summary: 'Effective rules per zone, with the source of every number' } }, async () => rules());
};
