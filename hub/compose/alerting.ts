// Assembles alerting for the hub: the alert ledger in data_dir/alerts.sqlite, the rule engine as
// the journal consumer 'rules', its clock tick (with the hub's own health for the self-alerts),
// and the notifications — MQTT, webhooks and store history through the durable outbox, the SSE feed.
import type { Part } from './lifecycle.ts';
import { tickEvery, type Ticker } from './ticker.ts';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AlertsRoutesOptions } from '../api/alerts.ts';
import type { LiveFeed } from '../feed/live-feed.ts';
import { ms, type Config } from '../config/config.ts';
import { fileSilences, isFileSilence } from '../config/silences.ts';
import type { ConsumerHandle, Journal } from '../journal/journal.ts';
import type { SetAsideLog } from '../journal/set-aside.ts';
import { RuleEngine, type AlertSink, type HubStatus } from '../rules/engine.ts';
import { AlertLedger } from '../rules/ledger.ts';
import { effectiveRules, ruleSettings, type SiteRules } from '../rules/site.ts';
import type { Store } from '../store/store.ts';
import { Notifier, STORE_TARGET, historyTarget, type NotifierOptions } from '../notify/notifier.ts';
import type { Timers } from '../domain/timers.ts';
import { Outbox, type OutboxOptions, type OutboxTarget } from '../notify/outbox.ts';
import { webhookTarget } from '../notify/webhook.ts';
import { receiverTarget } from '../notify/receivers.ts';
import type { RefusedSome } from '../notify/email.ts';
import { Routes } from '../notify/routes.ts';
import { bridgeAlertTarget } from '../notify/bridge-out.ts';
import type { BridgeLink } from '../bridges/link.ts';
import type { AlertChanges } from '../domain/alert.ts';
import { DiskSpace } from '../telemetry/disk-space.ts';
import { within } from '../domain/deadline.ts';

export interface AlertingOptions {
  config: Config;
  journal: Journal;
  store: Store;
  publish: (topic: string, payload: string, options: { retain: boolean }) => Promise<void>;
  feed: LiveFeed;
  log: Logger;
  now: () => number;
  /** Where notifications refused for good are recorded. */
  setAside: Pick<SetAsideLog, 'notification'>;
  /** Store and journal health, minus the disk, which is read here. */
  hubStatus: () => Omit<HubStatus, 'diskFreePercent'>;
  timers?: Timers;
  /** Runs the clock tick; every second of real time unless a test runs it on simulated time. */
  ticker?: Ticker;
  /** External brokers that get the alerts (`bridges` with out.alerts). */
  bridges?: readonly BridgeLink[];
  /** Told of notifications dropped past notify.max_undelivered, by target. */
  notificationsDropped?: (target: string, count: number) => void;
}

export interface Alerting {
  routes: Omit<AlertsRoutesOptions, 'audit'>;
  /** The effective rules at a moment, from the rule book built at start. */
  rules: (at: number) => SiteRules;
  /** Stops the consumer and the tick; call before the journal and the store close. */
  stop(): Promise<void>;
  /** Takes on a reloaded configuration's rules (one hub alone; a cluster's at restart). */
  reconfigure?: Part['reconfigure'];
}

export const TICK_MS = 1000;

const PRUNE_EVERY_MS = 3_600_000;
/** The first tick's wait for the data disk's free space. */
const FIRST_DISK_READ_MS = 2000;

/** The rules' working parts on a ledger: the outbox, the notifier and the engine. */
export interface RulesOnLedger {
  engine: RuleEngine;
  outbox: Outbox;
  notifier: Notifier;
  /** The clock tick: time-driven rules, the hub's own health, pruning. Never throws. */
  tick(): Promise<void>;
  /** Readies a reloaded configuration's receivers, routes, webhooks and silences; returns what puts them in place. */
  reconfigure(next: Config): () => void;
  /** Stops deliveries and waits for those in flight and for MQTT messages sent. */
  close(): Promise<void>;
}

export interface RulesOnLedgerExtras {
  /** The engine's state went back to its last save: what was applied since must come again. */
  onReload: () => void;
  /** In a cluster: the leader's term, carried by every notice. */
  term?: number;
  /** Whether the tick judges this hub's own health (default); in a cluster each hub judges its own. */
  judgesHub?: boolean;
  /** In a cluster: what webhook delivery ids start with, to tell this outbox's from another's. */
  deliveryPrefix?: string;
  /** In a cluster: what this hub's health adds (its name, the cluster's state). */
  hubExtras?: () => Partial<HubStatus>;
  /**
   * In a cluster: resolves once the state so far is where the cluster keeps it. Transitions are
   * announced, and notifications delivered, only after it; a rejection holds them back.
   */
  settled?: () => Promise<void>;
}

/** Who hears of alerts under a configuration: the outbox's targets, the notices' and the routes. */
function notifySettings(
  options: Pick<AlertingOptions, 'store' | 'bridges' | 'setAside' | 'log'>,
  config: Config,
  deliveryPrefix: string | undefined,
): {
  targets: OutboxTarget[];
  limits: Pick<OutboxOptions, 'retryFirstMs' | 'retryMaxMs' | 'maxWaiting'>;
  notifier: Pick<NotifierOptions, 'notices' | 'routes'>;
  routes: Routes;
} {
  // Every notice to each webhook and bridge; to the receivers the routes pick.
  const everyNotice = [
    ...config.notify.webhooks.map((hook) =>
      webhookTarget(hook, deliveryPrefix === undefined ? {} : { deliveryPrefix }),
    ),
    ...(options.bridges ?? [])
      .filter((link) => link.config.out.alerts)
      .map((link) => bridgeAlertTarget(link, config.mqtt.topic_prefix, deliveryPrefix)),
  ];
  const routes = new Routes(config.notify);
  // Delivered to the rest: recorded and logged, so a mistyped address is found.
  const refusedSome: RefusedSome = (target, rows, reason) => {
    options.log.warn({ target }, `${target}: ${reason}; listed at /api/v1/rejections?stage=notify`);
    const payloads = rows.map((r) => r.payload).join('\n');
    options.setAside
      .notification(target, payloads, new Error(reason))
      .catch((err: unknown) =>
        options.log.error({ err: (err as Error).message }, `could not record that ${target} was partly refused`),
      );
  };
  const receivers = config.notify.receivers.map((r) =>
    receiverTarget(r, {
      timeZone: config.site.timezone,
      refusedSome,
      ...(deliveryPrefix !== undefined && { deliveryPrefix }),
    }),
  );
  return {
    targets: [historyTarget(options.store), ...everyNotice, ...receivers],
    limits: {
      retryFirstMs: ms(config.notify.retry_first),
      retryMaxMs: ms(config.notify.retry_max),
      maxWaiting: config.notify.max_undelivered,
    },
    // No receivers: nothing to route, and no lookup per transition.
    notifier: { notices: everyNotice.map((r) => r.name), ...(receivers.length > 0 && { routes }) },
    routes,
  };
}

export function rulesOnLedger(
  options: Omit<AlertingOptions, 'journal'>,
  ledger: AlertLedger,
  { onReload, term, settled, judgesHub = true, hubExtras, deliveryPrefix }: RulesOnLedgerExtras,
): RulesOnLedger {
  const { config, log, now } = options;
  const notify = notifySettings(options, config, deliveryPrefix);
  let { routes } = notify;
  const outbox = new Outbox({
    db: ledger.db,
    targets: notify.targets,
    log,
    now,
    ...(options.timers && { timers: options.timers }),
    ...notify.limits,
    ...(options.notificationsDropped && { onDropped: options.notificationsDropped }),
    setAside: (target, row, err) => options.setAside.notification(target, row.payload, err),
    ...(settled && { ready: settled }),
  });
  const notifier = new Notifier({
    site: config.site.name,
    prefix: config.mqtt.topic_prefix,
    log: log.child({ part: 'alerts' }),
    outbox,
    ...notify.notifier,
    publish: options.publish,
    onEvent: (e) => options.feed.publishAlert(e),
    ...(term !== undefined && { term }),
  });
  let announcing = Promise.resolve();
  const sink: AlertSink = settled
    ? {
        record: (events) => notifier.record(events),
        // In order, and only once the cluster holds them; those held back are announced by the next leader.
        announce: (events) => {
          announcing = announcing.then(() => settled().then(() => notifier.announce(events)));
          announcing = announcing.catch(() => undefined);
        },
      }
    : notifier;
  const faultyDevices = new Set<string>();
  const engine = new RuleEngine(ruleSettings(config), ledger, sink, now, {
    onFault: (device, err) => {
      // Once per device and run: the tick repeats every second.
      if (faultyDevices.has(device) || faultyDevices.size >= 1000) return;
      faultyDevices.add(device);
      log.error(
        { device, err: (err as Error).message },
        `the rules could not read or judge the saved state of device ${device} (${(err as Error).message}); the other devices are judged as usual`,
      );
    },
    onReload,
    // Routes without a repeat interval remind of nothing: no look at every firing alert each second.
    reminders: () => (routes.reminds ? (a) => routes.reminders(a) : undefined),
  });
  notifier.restore(engine.announcedFiring());
  outbox.kick();
  const keepSilences = (cfg: Config) => {
    const wanted = fileSilences(cfg.silences, cfg.site.timezone);
    // Most sites keep none in the file: no durable save at every start for nothing.
    if (wanted.length === 0 && !ledger.silences().some(isFileSilence)) return;
    try {
      engine.keepFileSilences(isFileSilence, wanted);
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        `could not save the configuration's silences (${(err as Error).message}); notifications they would hold back are sent`,
      );
    }
  };
  keepSilences(config);

  let failing = false;
  let closed = false;
  let lastPrune = now();
  // A cluster leader's rules do not judge its hub: no disk to read.
  const disk = judgesHub ? new DiskSpace(config.data_dir) : undefined;
  // The first tick waits (a little) for the first read: judged without it, a disk alert firing
  // before a restart would be resolved, then fire again.
  let firstTick = true;
  const tick = async () => {
    try {
      if (firstTick && disk) await within(disk.firstRead, FIRST_DISK_READ_MS);
      firstTick = false;
      const diskFreePercent = disk?.freePercent();
      if (closed) return;
      engine.tick(
        judgesHub
          ? {
              ...options.hubStatus(),
              ...(diskFreePercent !== undefined && { diskFreePercent }),
              // The store's own failures are storage_down's.
              notifyFailing: outbox.failing().filter((f) => f.target !== STORE_TARGET),
              ...hubExtras?.(),
            }
          : undefined,
      );
      if (now() - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = now();
        // An alert whose resolution a silence held, then another of its key fired, was never told over.
        for (const id of ledger.prune(lastPrune)) outbox.unfollow(id);
      }
      if (failing) log.info('alert evaluation works again');
      failing = false;
    } catch (err) {
      // Once per failure, not once a second: a full disk would otherwise flood the log.
      if (!failing)
        log.error(
          { err: (err as Error).message },
          `alert evaluation failed (${(err as Error).message}); retrying every second`,
        );
      failing = true;
    }
  };
  return {
    engine,
    outbox,
    notifier,
    tick,
    reconfigure: (next) => {
      const settings = notifySettings(options, next, deliveryPrefix);
      return () => {
        routes = settings.routes;
        outbox.setTargets(settings.targets, settings.limits);
        notifier.reconfigure(settings.notifier);
        outbox.kick();
        keepSilences(next);
      };
    },
    close: async () => {
      closed = true;
      await outbox.close();
      await announcing;
      await notifier.flushed();
    },
  };
}

/**
 * In a cluster: this hub's own health (store, journal, disk, its link to the others) judged on a
 * ledger of its own, so it is told even while Redis, and with it the cluster's rules, is away.
 */
export function startOwnAlerts(
  options: AlertingOptions,
  node: string,
  hubExtras: () => Partial<HubStatus>,
): { stop(): Promise<void> } {
  const ledger = new AlertLedger(join(options.config.data_dir, 'hub-alerts.sqlite'));
  const parts = rulesOnLedger(options, ledger, {
    onReload: () => undefined,
    deliveryPrefix: `${node}-`,
    hubExtras: () => ({ node, ...hubExtras() }),
  });
  const stopTicking = (options.ticker ?? tickEvery(TICK_MS))(() => parts.tick());
  return {
    stop: async () => {
      await stopTicking();
      await parts.close();
      ledger.close();
    },
  };
}

/** What the API may do: read the ledger's read-only view, and change alerts through `changes`. */
export function alertAccess(
  ledger: AlertLedger,
  changes: AlertChanges,
  now: () => number,
): AlertsRoutesOptions['engine'] {
  return Object.freeze({ ...ledger.view(now), ...changes });
}

export function startAlerting(options: AlertingOptions): Alerting {
  const { config, journal, log, now } = options;
  let settings = ruleSettings(config);
  const ledger = new AlertLedger(join(config.data_dir, 'alerts.sqlite'));
  let consumer: ConsumerHandle | undefined;
  // A failed tick or operator's request lost batches applied since the last save.
  const parts = rulesOnLedger(options, ledger, { onReload: () => consumer?.rewind() });
  const { engine } = parts;

  // A new engine starts at the end: old readings in the journal are history, not news.
  try {
    engine.startAfter(journal.status().durableLsn);
  } catch (err) {
    log.error(
      { err: (err as Error).message },
      `the rule engine could not save where it starts in the journal (${(err as Error).message}): it may judge readings already in the journal as new`,
    );
  }
  // The engine keeps its position with its state; the journal asks it, at start and after a failure.
  consumer = journal.consume('rules', (entries, lastLsn) => engine.apply(entries, lastLsn), {
    position: () => engine.position(),
    onError: (err, attempt) => {
      if (attempt === 1)
        log.error(
          { err: (err as Error).message },
          `the rule engine could not apply a batch (${(err as Error).message}); retrying`,
        );
    },
  });

  const stopTicking = (options.ticker ?? tickEvery(TICK_MS))(() => parts.tick());

  // The API reads alerts from a read-only view of the ledger; only an operator's change goes through the engine.
  const access = alertAccess(
    ledger,
    {
      ack: engine.ack.bind(engine),
      addSilence: engine.addSilence.bind(engine),
      removeSilence: engine.removeSilence.bind(engine),
    },
    now,
  );
  const rules = (at: number) => effectiveRules(settings, at);
  let stopped: Promise<void> | undefined;
  return {
    routes: { engine: access, rules: () => rules(now()), now, timeZone: config.site.timezone },
    rules,
    reconfigure: (next, changes) => {
      // A rule book the new configuration cannot make (contradicting overrides, an unreadable holiday calendar) refuses the reload.
      const nextSettings = ruleSettings(next);
      const notifyAndSilences = parts.reconfigure(next);
      return () => {
        settings = nextSettings;
        engine.reconfigure(nextSettings, changes.removed);
        notifyAndSilences();
      };
    },
    stop: () =>
      (stopped ??= (async () => {
        await stopTicking();
        await consumer.stop();
        try {
          // Everything applied is saved and on disk: the next start hands nothing over again.
          engine.sync();
        } catch (err) {
          log.error(
            { err: (err as Error).message },
            `could not save the rule engine's state at stop (${(err as Error).message}); the journal hands the entries since its last save over again at the next start`,
          );
        }
        await parts.close();
        ledger.close();
      })()),
  };
}
