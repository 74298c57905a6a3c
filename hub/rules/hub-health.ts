// The hub's own health as alerts: the store down (one alert however many rules it affects), the
// store refusing readings, the journal unable to write or backed up, the data disk filling up.
// The hub-status evaluator of the rules' lifecycle. Pure.
import { tenths } from './wording.ts';
import type { Evaluation } from './lifecycle.ts';
import { HUB_HEALTH } from './requirements.ts';
import type { Severity } from '../domain/requirement.ts';
import { counted } from '../domain/counted.ts';

export interface HubStatus {
  storeName: string;
  storeOk: boolean;
  storeDownSince?: number;
  storeError?: string;
  /** How long the oldest write or roll-up the store has not answered yet has waited, if one waits. */
  storeUnansweredForMs?: number;
  /** Readings the store refused for good since the hub started, and the last refusal. */
  storeRefused?: number;
  storeLastRefusalAt?: number;
  storeLastRefusal?: string;
  /** Journal entries waiting for the store. */
  backlog: number;
  journalWritable: boolean;
  journalError?: string;
  diskFreePercent?: number;
  /** In a cluster: this hub's name, the subject of its own alerts, so each hub's are its own. */
  node?: string;
  /** In a cluster: why this hub cannot act with the others (Redis unreachable long enough), if so. */
  clusterProblem?: string;
  /** The webhooks, receivers and bridges whose deliveries fail now: since when, why, and what waits. */
  notifyFailing?: readonly NotifyFailing[];
}

export interface NotifyFailing {
  target: string;
  since: number;
  error: string;
  waiting: number;
  /** The oldest of them dropped past notify.max_undelivered since the failing began. */
  dropped?: number;
}

const HUB = 'hub';
/** Of a receiver's own words (an SMTP server's, say), what an alert summary repeats. */
const ERROR_CHARS = 200;

export function onHubStatus(ev: Evaluation, hub: HubStatus): void {
  const { now } = ev;
  const { settings } = ev.site;
  const hubFinding = (rule: string, severity: Severity | undefined, summary?: string) =>
    ev.find(
      rule,
      hub.node ?? HUB,
      HUB,
      severity ? { state: 'firing', severity, at: now, ...(summary && { summary }) } : { state: 'ok', at: now },
    );

  const downFor = hub.storeDownSince === undefined ? 0 : now - hub.storeDownSince;
  // A store that neither answers nor fails a write (a hung disk, a database that took the
  // connection and went quiet) is as down as one that refuses it.
  const waitedFor = hub.storeUnansweredForMs ?? 0;
  const failed = !hub.storeOk && downFor >= settings.storageDownAfterMs;
  const silent = !failed && waitedFor >= settings.storageDownAfterMs;
  hubFinding(
    'storage_down',
    failed || silent ? 'critical' : undefined,
    silent
      ? `storage down: ${hub.storeName} has not answered a write for ${Math.round(waitedFor / 1000)} s; readings wait in the journal and the floor's rules keep running`
      : `storage down: ${hub.storeName} has refused writes for ${Math.round(downFor / 1000)} s (${hub.storeError ?? 'unknown error'}); readings wait in the journal and the floor's rules keep running`,
  );

  // Readings refused for good are set aside and the rest keep flowing: a warning, not an outage.
  const refusing =
    hub.storeLastRefusalAt !== undefined && now - hub.storeLastRefusalAt < settings.storageRejectingClearsAfterMs;
  hubFinding(
    'storage_rejecting',
    refusing ? 'warning' : undefined,
    `storage refuses some readings: ${hub.storeName} has refused ${hub.storeRefused ?? 0} reading(s) for good since the hub started, the last ${Math.round((now - (hub.storeLastRefusalAt ?? now)) / 1000)} s ago (${hub.storeLastRefusal ?? 'no reason given'}); the other readings are stored, and the refused ones are listed at GET /api/v1/rejections?stage=store`,
  );

  // A backlog while the store is down is the storage alert's business, not a second alert.
  const backlogHigh = hub.storeOk && !silent && hub.backlog > HUB_HEALTH.backlogEntries.value;
  const journal: Severity | undefined = !hub.journalWritable ? 'critical' : backlogHigh ? 'warning' : undefined;
  hubFinding(
    'journal',
    journal,
    !hub.journalWritable
      ? `the journal cannot write (${hub.journalError ?? 'unknown error'}): new readings are not acknowledged`
      : `${counted(hub.backlog, 'reading waits', 'readings wait')} for the store (draining)`,
  );

  const free = hub.diskFreePercent;
  const disk: Severity | undefined =
    free === undefined
      ? undefined
      : free < HUB_HEALTH.diskFreeCriticalPercent.value
        ? 'critical'
        : free < HUB_HEALTH.diskFreeWarningPercent.value
          ? 'warning'
          : undefined;
  hubFinding('disk_space', disk, `the data disk is nearly full: ${tenths(free ?? 0)} % free`);

  // One alert for all of them: it goes out through the others, and a removed target takes its part with it.
  const failing = (hub.notifyFailing ?? []).filter((f) => now - f.since >= settings.notifyFailingAfterMs);
  hubFinding(
    'notify_failing',
    failing.length > 0 ? 'warning' : undefined,
    `alert notifications are not getting through: ${failing
      .map(
        (f) =>
          `${f.target} has failed for ${Math.round((now - f.since) / 60_000)} min (${f.error.slice(0, ERROR_CHARS)}), ${f.waiting} waiting${f.dropped ? ` (the oldest ${f.dropped} dropped, past notify.max_undelivered)` : ''}`,
      )
      .join('; ')}; they are kept and retried, and every other way of hearing of alerts still works`,
  );

  if (hub.node !== undefined)
    hubFinding(
      'cluster_degraded',
      hub.clusterProblem === undefined ? undefined : 'critical',
      `cluster degraded on hub ${hub.node}: ${hub.clusterProblem ?? ''}`,
    );
}
