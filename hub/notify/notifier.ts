// Tells the world about alert transitions: a structured log line for each; for those not held by a
// silence or flapping, a retained MQTT message on {prefix}/alerts/{zone}/{alertKey} (an empty
// retained payload clears it on resolution), a notice to every webhook and bridge, and one to
// each receiver its routes pick, in the route's group; every transition also goes to the store's
// alert history. Receivers, webhooks, bridges and history go through the durable outbox.
import type { Logger } from 'pino';
import type { AlertSink } from '../rules/engine.ts';
import { StoreRefusal, type AlertRecord, type Store } from '../store/store.ts';
import type { Outbox, OutboxTarget } from './outbox.ts';
import { receiverTargetName } from './receivers.ts';
import type { Routes } from './routes.ts';
import type { Alert, AlertEvent } from '../domain/alert.ts';

/** The JSON of a notification: the MQTT payload and the webhook body. */
export interface AlertNotice {
  site: string;
  event: AlertEvent['kind'];
  /** A notice that a silence or flapping held back, sent once it no longer was. */
  late: boolean;
  at: number;
  alert: Alert;
  /** In a cluster: the rules leader's term that made the transition (a later term's notice supersedes it). */
  term?: number;
}

export interface NotifierOptions {
  site: string;
  prefix: string;
  log: Logger;
  outbox: Outbox;
  /** Outbox targets that take each notice told: webhooks, bridges to other brokers. */
  notices: readonly string[];
  /** Which receivers take a notice, in which group. */
  routes?: Routes;
  publish: (topic: string, payload: string, options: { retain: boolean }) => Promise<void>;
  /** Live views (the SSE stream). */
  onEvent?: (event: AlertEvent) => void;
  /** In a cluster: the rules leader's term, carried by every notice. */
  term?: number;
}

export const STORE_TARGET = 'store';

/** The outbox target that writes alert history to the store, in batches. */
export function historyTarget(store: Store): OutboxTarget {
  return {
    name: STORE_TARGET,
    batch: 500,
    deliver: (rows) => store.writeAlertEvents(rows.map((r) => JSON.parse(r.payload) as AlertRecord)),
    refusedForGood: (err) => err instanceof StoreRefusal,
  };
}

function alertTopic(prefix: string, alert: Pick<Alert, 'zone' | 'key'>): string {
  return `${prefix}/alerts/${alert.zone}/${alert.key}`;
}

export class Notifier implements AlertSink {
  /**
   * The last publish under way of each alert topic and of each alert (whose topic changes with its
   * zone), each waiting for both before it. Others do not wait: a retained message a cluster's
   * stopped Redis takes 2 s to refuse holds up its own alert only, not every alert after it (nor,
   * after a start, every firing alert said again).
   */
  private readonly publishing = new Map<string, Promise<void>>();
  /**
   * The topic each alert key's firing message was last kept on, as queued: a device that moved
   * zone moves its alerts' topic, and the message kept on the old one is cleared, or it would say
   * the alert fires there for good. By key, not alert: a later alert of the key (one whose
   * resolution a silence held and never told) takes the entry over, so it holds live keys only.
   */
  private readonly keptOn = new Map<string, string>();
  private notices: readonly string[];
  private routes: Routes | undefined;

  constructor(private readonly options: NotifierOptions) {
    this.notices = options.notices;
    this.routes = options.routes;
  }

  /** Who hears of what from now on (a reloaded configuration); alerts told before keep their receivers. */
  reconfigure(next: Pick<NotifierOptions, 'notices' | 'routes'>): void {
    this.notices = next.notices;
    this.routes = next.routes;
  }

  record(events: readonly AlertEvent[]): void {
    const { outbox } = this.options;
    const { notices } = this;
    for (const e of events) {
      if (e.notified) {
        const body = JSON.stringify(this.notice(e));
        // A reminder is for people: webhooks, bridges and MQTT already hold the alert's state.
        if (e.route === undefined) for (const target of notices) outbox.enqueue(target, body);
        this.route(e, body);
      }
      // Once its resolution is told, nothing more follows the alert.
      if (e.notified && e.alert.state === 'resolved') outbox.unfollow(e.alert.id);
      if (!e.late) outbox.enqueue(STORE_TARGET, JSON.stringify(record(e)));
    }
  }

  /**
   * To the receivers the routes pick now, and to every receiver told of the alert before (whose
   * route may no longer match, its severity having fallen), each in the group it was first told
   * in. A reminder goes through its own route only.
   */
  private route(e: AlertEvent, body: string): void {
    const { outbox } = this.options;
    const { routes } = this;
    if (!routes) return;
    const told = new Map(outbox.followers(e.alert.id).map((f) => [f.target, f.group]));
    const sent = new Set<string>();
    for (const d of routes.destinations(e.alert)) {
      if (e.route !== undefined && e.route !== d.route) continue;
      const target = receiverTargetName(d.receiver);
      let group = told.get(target);
      if (!group) {
        group = { key: d.group, waitMs: d.groupWaitMs, intervalMs: d.groupIntervalMs };
        outbox.follow(e.alert.id, { target, group });
      }
      outbox.enqueue(target, body, group);
      sent.add(target);
    }
    if (e.route !== undefined) return;
    for (const [target, group] of told) if (!sent.has(target)) outbox.enqueue(target, body, group);
  }

  announce(events: readonly AlertEvent[]): void {
    const { log, outbox } = this.options;
    for (const e of events) {
      const a = e.alert;
      const held = e.notified ? '' : ` (notification held: ${e.heldBy})`;
      const line = `alert ${e.kind}${e.late ? ' (sent late)' : ''} [${a.severity}] ${a.key}: ${a.summary || a.key}${held}`;
      const fields = {
        alert: a.id,
        key: a.key,
        zone: a.zone,
        rule: a.rule,
        subject: a.subject,
        severity: a.severity,
        event: e.kind,
        notified: e.notified,
      };
      if (e.kind === 'resolved' || e.kind === 'acknowledged') log.info(fields, line);
      else log.warn(fields, line);
      if (e.notified && e.route === undefined) this.publish(e);
      this.options.onEvent?.(e);
    }
    outbox.kick();
  }

  /** Retained messages live in the broker's memory: after a start, say again what is firing. */
  restore(firing: readonly Alert[]): void {
    for (const alert of firing)
      this.publish({
        alertId: alert.id,
        key: alert.key,
        kind: 'firing',
        at: alert.firingAt ?? alert.updatedAt,
        alert,
        notified: true,
        late: true,
      });
  }

  /** Waits for the MQTT messages sent so far. */
  async flushed(): Promise<void> {
    await Promise.all(this.publishing.values());
  }

  private notice(e: AlertEvent): AlertNotice {
    const { site, term } = this.options;
    return {
      site,
      event: e.kind,
      late: e.late === true,
      at: e.at,
      alert: e.alert,
      ...(term !== undefined && { term }),
    };
  }

  private publish(e: AlertEvent): void {
    const { prefix, log } = this.options;
    const topic = alertTopic(prefix, e.alert);
    const body = JSON.stringify(this.notice(e));
    const { id, key } = e.alert;
    const moved = this.keptOn.get(key);
    const left = moved !== undefined && moved !== topic ? moved : undefined;
    if (e.alert.state === 'resolved') this.keptOn.delete(key);
    else this.keptOn.set(key, topic);
    // In order: a resolution must never overtake the firing it ends, nor an earlier alert's
    // clearing of a topic a later one's firing.
    const lanes = [`topic ${topic}`, `alert ${id}`, ...(left === undefined ? [] : [`topic ${left}`])];
    const sent = Promise.all(lanes.map((lane) => this.publishing.get(lane) ?? Promise.resolve()))
      .then(async () => {
        if (left !== undefined)
          await this.options
            .publish(left, '', { retain: true })
            .catch((err: unknown) =>
              log.warn(
                { topic: left, err: (err as Error).message },
                `could not clear the alert's message kept on ${left}, the zone its device left (${(err as Error).message})`,
              ),
            );
        if (e.alert.state === 'resolved') {
          await this.options.publish(topic, body, { retain: false });
          await this.options.publish(topic, '', { retain: true });
        } else {
          try {
            await this.options.publish(topic, body, { retain: true });
          } catch (err) {
            // Not kept for later subscribers (a cluster's Redis away): those connected now still hear it.
            await this.options.publish(topic, body, { retain: false });
            log.warn(
              { topic, err: (err as Error).message },
              `could not keep the alert on ${topic} as a retained message (${(err as Error).message}); it went to the subscribers connected now`,
            );
          }
        }
      })
      .catch((err: unknown) =>
        log.error(
          { topic, err: (err as Error).message },
          `could not publish the alert on ${topic}: ${(err as Error).message}`,
        ),
      )
      .finally(() => {
        for (const lane of lanes) if (this.publishing.get(lane) === sent) this.publishing.delete(lane);
      });
    for (const lane of lanes) this.publishing.set(lane, sent);
  }
}

function record(e: AlertEvent): AlertRecord {
  const a = e.alert;
  return {
    alertId: a.id,
    key: a.key,
    rule: a.rule,
    subject: a.subject,
    zone: a.zone,
    event: e.kind,
    severity: a.severity,
    at: e.at,
    summary: a.summary || a.key,
    ...(a.value !== undefined && { value: a.value }),
    ...(a.code !== undefined && { code: a.code }),
  };
}
