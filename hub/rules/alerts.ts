// The alert lifecycle: pending → firing → resolved, severity changes inside firing, one live alert
// per key (rule + subject), acknowledgements, silences, escalation and flapping. What subscribers
// were last told is kept per key, so a notification held back by a silence or by flapping is sent
// once it is no longer held — and only if the truth differs from what they were told.
import { FLAPPING } from './requirements.ts';
import { type AlertLedger, type KeyState } from './ledger.ts';
import type { Severity } from '../domain/requirement.ts';
import { inForce, matches, type Alert, type AlertEvent, type AlertEventKind, type Silence } from '../domain/alert.ts';

/** What a rule found about one key at one moment: what the rules' lifecycle hands the alert book. */
export interface Finding {
  key: string;
  rule: string;
  subject: string;
  zone: string;
  state: 'ok' | 'pending' | 'firing';
  severity?: Severity;
  at: number;
  summary?: string;
  value?: number;
  threshold?: number;
  unit?: string;
  source?: string;
  /** An equipment fault's own code. */
  code?: string;
}

/** Rules whose every firing is an incident of its own. */
const INCIDENT_RULES = new Set(['acoustic_shock']);

export class AlertError extends Error {
  constructor(
    readonly statusCode: 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'AlertError';
  }
}

/** A route that notifies a firing, unacknowledged alert again every `everyMs`. */
export interface Reminder {
  route: string;
  everyMs: number;
}

export interface AlertBookSettings {
  /** A critical not acknowledged this long is notified again as escalated. */
  escalateAfterMs: number;
  /** Routes that remind, asked each tick (a reload applies at once); undefined if none do. */
  reminders?: () => ((a: Alert) => readonly Reminder[]) | undefined;
  /** Wall-clock time: silences are judged by it, whatever the event time of a transition. */
  now: () => number;
}

export class AlertBook {
  private readonly live = new Map<string, Alert>();
  private readonly keys: Map<string, KeyState>;
  private silences: Silence[];
  private pending: AlertEvent[] = [];
  /** Live alerts whose value or summary moved on without a transition: written by `saveUpdates`. */
  private readonly updated = new Set<Alert>();

  constructor(
    private readonly ledger: AlertLedger,
    private readonly settings: AlertBookSettings,
  ) {
    for (const a of ledger.liveAlerts()) this.live.set(a.key, a);
    this.keys = ledger.keys();
    this.silences = ledger.silences();
  }

  /** Writes the alerts whose value moved on since the last call; the engine saves them with its state. */
  saveUpdates(): void {
    for (const a of this.updated) this.ledger.saveAlert(a);
    this.updated.clear();
  }

  /** Events since the last call, in order. */
  drain(): AlertEvent[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Every alert pending or firing. */
  liveAlerts(): Alert[] {
    return [...this.live.values()];
  }

  /** Firing alerts as subscribers were last told of them. */
  toldFiring(): Alert[] {
    return [...this.live.values()].filter((a) => {
      const told = this.keys.get(a.key)?.told;
      return a.state === 'firing' && told?.state === 'firing' && told.alertId === a.id;
    });
  }

  observe(o: Finding): void {
    const a = this.live.get(o.key);
    if (o.state === 'ok') {
      // An ok that says why (the requirement stood down) is the resolution's summary.
      if (a && o.summary !== undefined) a.summary = o.summary;
      if (a) this.close(a, o.at);
      return;
    }
    const severity = o.severity ?? 'warning';
    if (o.state === 'pending') {
      if (a?.state === 'firing') this.close(a, o.at);
      if (a?.state === 'pending') this.update(this.describe(a, o, severity));
      else this.save(this.describe(this.open(o, severity), o, severity));
      return;
    }
    if (!a || a.state === 'pending') {
      const alert = this.describe(a ?? this.open(o, severity), o, severity);
      alert.state = 'firing';
      alert.firingAt = o.at;
      if (severity === 'critical') alert.criticalSince = o.at;
      this.save(alert);
      this.change(alert, o.at);
      this.emit(alert, 'firing', o.at);
    } else if (a.severity !== severity) {
      this.describe(a, o, severity);
      if (severity === 'critical') a.criticalSince = o.at;
      else delete a.criticalSince;
      this.save(a);
      this.emit(a, 'severity', o.at);
    } else if (a.value !== o.value || a.summary !== (o.summary ?? a.summary)) {
      this.update(this.describe(a, o, severity));
    }
  }

  ack(id: number, by: string, comment: string | undefined, now: number): Alert {
    const a = [...this.live.values()].find((x) => x.id === id);
    if (!a) {
      const stored = this.ledger.alert(id);
      if (!stored) throw new AlertError(404, `no alert ${id}`);
      throw new AlertError(409, `alert ${id} is already resolved; nothing to acknowledge`);
    }
    a.ack = { by, at: now, ...(comment !== undefined && comment !== '' && { comment }) };
    a.updatedAt = now;
    this.save(a);
    this.emit(a, 'acknowledged', now);
    return a;
  }

  addSilence(s: Omit<Silence, 'id'>, now: number): Silence {
    const silence = { id: this.ledger.nextId('silence'), ...s };
    this.ledger.saveSilence(silence);
    this.silences.push(silence);
    this.reconcile(now);
    return silence;
  }

  readonly silenceCount = (): number => this.silences.length;

  removeSilence(id: number, now: number): boolean {
    if (!this.ledger.deleteSilence(id)) return false;
    this.silences = this.silences.filter((s) => s.id !== id);
    this.reconcile(now);
    return true;
  }

  /**
   * The silences the configuration file keeps (created by `owner`): one the file still has as it
   * was stays, with its id; one it changed or dropped ends; a new one starts. Those already over
   * are not made again.
   */
  keepFileSilences(owner: (s: Silence) => boolean, wanted: readonly Omit<Silence, 'id'>[], now: number): void {
    const same = (s: Omit<Silence, 'id' | 'createdAt'>) =>
      JSON.stringify([s.createdBy, s.matchers, s.startsAt, s.endsAt, s.recurrence ?? null, s.comment]);
    const kept = new Map(this.silences.filter(owner).map((s) => [same(s), s]));
    const stay = new Set<Silence>();
    for (const w of wanted) {
      const found = kept.get(same(w));
      if (found) stay.add(found);
      else if (w.endsAt > now) {
        const silence = { id: this.ledger.nextId('silence'), ...w };
        this.ledger.saveSilence(silence);
        this.silences.push(silence);
        stay.add(silence);
      }
    }
    for (const s of kept.values()) if (!stay.has(s)) this.ledger.deleteSilence(s.id);
    this.silences = this.silences.filter((s) => !owner(s) || stay.has(s));
    this.reconcile(now);
  }

  /** Time-driven lifecycle: expired silences, flapping that went quiet, escalation. */
  tick(now: number): void {
    this.silences = this.silences.filter((s) => s.endsAt > now);
    for (const [key, k] of this.keys) {
      const last = k.changedAt ?? k.changes.at(-1) ?? 0;
      if (k.flappingSince !== undefined && now - last >= FLAPPING.quietMs.value) {
        delete k.flappingSince;
        k.changes = [];
        this.ledger.saveKey(key, k);
        const flapping = this.live.get(flappingKey(key));
        if (flapping) this.close(flapping, now);
      } else if (
        k.flappingSince === undefined &&
        k.told?.state !== 'firing' &&
        now - last >= FLAPPING.windowMs.value &&
        !this.live.has(key)
      ) {
        // Nothing live or told firing, no change a flap counts: kept, made-up keys would stay for ever.
        this.keys.delete(key);
        this.ledger.deleteKey(key);
      }
    }
    for (const a of this.live.values()) {
      if (
        a.state !== 'firing' ||
        a.severity !== 'critical' ||
        a.ack ||
        a.escalatedAt !== undefined ||
        a.criticalSince === undefined
      )
        continue;
      if (now - a.criticalSince < this.settings.escalateAfterMs || this.heldBy(a, now)) continue;
      a.escalatedAt = now;
      a.updatedAt = now;
      this.save(a);
      this.emit(a, 'escalated', now);
    }
    const reminders = this.settings.reminders?.();
    if (reminders) this.remind(now, reminders);
    this.reconcile(now);
  }

  /** Firing, unacknowledged alerts whose routes' repeat interval has passed since they were last told. */
  private remind(now: number, reminders: (a: Alert) => readonly Reminder[]): void {
    for (const a of this.live.values()) {
      if (a.state !== 'firing' || a.ack) continue;
      const due = reminders(a).filter((r) => {
        const last = Math.max(
          a.firingAt ?? a.startsAt,
          a.escalatedAt ?? -Infinity,
          a.reminded?.find(([route]) => route === r.route)?.[1] ?? -Infinity,
        );
        return now - last >= r.everyMs;
      });
      if (due.length === 0 || this.heldBy(a, now)) continue;
      for (const r of due) {
        a.reminded = [...(a.reminded ?? []).filter(([route]) => route !== r.route), [r.route, now]];
        this.save(a);
        this.emit(a, 'reminder', now, false, r.route);
      }
    }
  }

  private open(o: Finding, severity: Severity): Alert {
    return {
      id: this.ledger.nextId('alert'),
      key: o.key,
      rule: o.rule,
      subject: o.subject,
      zone: o.zone,
      state: 'pending',
      severity,
      summary: '',
      startsAt: o.at,
      updatedAt: o.at,
    };
  }

  private describe(a: Alert, o: Finding, severity: Severity): Alert {
    a.severity = severity;
    a.zone = o.zone;
    a.updatedAt = Math.max(a.updatedAt, o.at);
    if (o.summary !== undefined) a.summary = o.summary;
    for (const field of ['value', 'threshold', 'unit', 'source', 'code'] as const) {
      if (o[field] !== undefined) (a as unknown as Record<string, unknown>)[field] = o[field];
    }
    return a;
  }

  private save(a: Alert): void {
    if (a.state === 'resolved') this.live.delete(a.key);
    else this.live.set(a.key, a);
    this.updated.delete(a);
    this.ledger.saveAlert(a);
  }

  /** A live alert's figures moved on, nothing else: no need to write it for every reading. */
  private update(a: Alert): void {
    this.updated.add(a);
  }

  /** Ends a live alert: a pending one that never fired leaves no trace; a firing one resolves. */
  private close(a: Alert, at: number): void {
    if (a.state === 'pending') {
      this.live.delete(a.key);
      this.updated.delete(a);
      this.ledger.deleteAlert(a.id);
      return;
    }
    a.state = 'resolved';
    a.resolvedAt = at;
    a.updatedAt = Math.max(a.updatedAt, at);
    this.save(a);
    this.change(a, at);
    this.emit(a, 'resolved', at);
  }

  /**
   * Counts a firing/resolved change; the FLAPPING.changes-th within the window starts flapping.
   * An incident (an acoustic shock) is each time a new event to record, never a flap to quieten.
   */
  private change(a: Alert, at: number): void {
    if (a.rule === 'flapping' || INCIDENT_RULES.has(a.rule)) return;
    const k = this.keyState(a.key);
    k.changes = [...k.changes.filter((t) => t > at - FLAPPING.windowMs.value), at];
    k.changedAt = this.settings.now();
    this.ledger.saveKey(a.key, k);
    if (k.flappingSince !== undefined || k.changes.length < FLAPPING.changes.value) return;
    k.flappingSince = at;
    this.ledger.saveKey(a.key, k);
    this.observe({
      key: flappingKey(a.key),
      rule: 'flapping',
      subject: a.subject,
      zone: a.zone,
      state: 'firing',
      severity: 'warning',
      at,
      summary: `the ${a.rule} alert for ${a.subject} in ${a.zone} is flapping: ${k.changes.length} changes in ${FLAPPING.windowMs.value / 60_000} min; its notices are held until it has been quiet for ${FLAPPING.quietMs.value / 60_000} min`,
    });
  }

  private keyState(key: string): KeyState {
    let k = this.keys.get(key);
    if (!k) {
      k = { changes: [] };
      this.keys.set(key, k);
    }
    return k;
  }

  private heldBy(a: Alert, now: number): string | undefined {
    if (a.rule !== 'flapping' && this.keys.get(a.key)?.flappingSince !== undefined) return 'flapping';
    const silence = this.silences.find((s) => inForce(s, now) && matches(s.matchers, a));
    return silence ? `silence ${silence.id}` : undefined;
  }

  private emit(a: Alert, kind: AlertEventKind, at: number, late = false, route?: string): void {
    const heldBy = this.heldBy(a, this.settings.now());
    const event: AlertEvent = {
      alertId: a.id,
      key: a.key,
      kind,
      at,
      alert: structuredClone(a),
      notified: heldBy === undefined,
      ...(heldBy !== undefined && { heldBy }),
      ...(late && { late: true }),
      ...(route !== undefined && { route }),
    };
    // A late notice repeats what history already holds; only the notification is new.
    if (!late) this.ledger.addEvent(event);
    this.pending.push(event);
    if (heldBy === undefined) this.tell(a);
  }

  private tell(a: Alert): void {
    const k = this.keyState(a.key);
    k.told = {
      alertId: a.id,
      state: a.state === 'resolved' ? 'resolved' : 'firing',
      severity: a.severity,
      acked: a.ack !== undefined,
    };
    this.ledger.saveKey(a.key, k);
  }

  /** Tells subscribers the current truth of every key whose notices are no longer held. */
  private reconcile(now: number): void {
    for (const [key, k] of this.keys) {
      const a = this.live.get(key);
      const firing = a?.state === 'firing' ? a : undefined;
      if (firing) {
        const told = k.told;
        const same =
          told?.state === 'firing' &&
          told.alertId === firing.id &&
          told.severity === firing.severity &&
          told.acked === (firing.ack !== undefined);
        if (!same && !this.heldBy(firing, now)) this.emit(firing, 'firing', now, true);
      } else if (k.told?.state === 'firing') {
        const last = this.ledger.alert(k.told.alertId);
        if (last && last.state === 'resolved' && !this.heldBy(last, now)) this.emit(last, 'resolved', now, true);
      }
    }
  }
}

export function flappingKey(key: string): string {
  return `flapping.${key}`;
}
