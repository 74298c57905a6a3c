// Alerting on a hub that is one node of a cluster (cluster.redis_url). Every node forwards its
// journal to Redis (one more journal consumer), reports itself, and keeps a replica of the rules'
// state for its API. The node holding the rules lease runs the rule engine on every node's
// forwarded entries, on a ledger loaded from Redis at the start of its term and copied back by
// fenced writes (state-mirror.ts); its notifications carry its term. An operator's change made on
// any node goes to the leader (requests.ts).
import { join } from 'node:path';
import { connectCluster } from '../cluster/connections.ts';
import { FailedEntries } from '../cluster/failed-entries.ts';
import { clusterCheck } from '../cluster/health.ts';
import { ClusterNodes, SilentHubs, type NodeReport } from '../cluster/nodes.ts';
import { PeerEntries } from '../cluster/peers.ts';
import { RulesLease } from '../cluster/lease.ts';
import { carryOut, RuleRequests, type RequestKind } from '../cluster/requests.ts';
import { StateMirror } from '../cluster/state-mirror.ts';
import { termStarts } from '../cluster/term-starts.ts';
import { passedOverReport, positionsIn, StreamReader } from '../cluster/stream-reader.ts';
import { nodeId } from '../config/cluster.ts';
import { ms } from '../config/config.ts';
import { isAlertEvent, type Alert, type Silence } from '../domain/alert.ts';
import type { Entry } from '../domain/reading.ts';
import { jsonObject } from '../domain/json-text.ts';
import { systemTimers } from '../domain/timers.ts';
import { Outbox } from '../notify/outbox.ts';
import type { RuleEngine } from '../rules/engine.ts';
import { AlertLedger } from '../rules/ledger.ts';
import { effectiveRules, ruleSettings } from '../rules/site.ts';
import type { PartHealth } from './lifecycle.ts';
import {
  alertAccess,
  rulesOnLedger,
  startOwnAlerts,
  TICK_MS,
  type Alerting,
  type AlertingOptions,
} from './alerting.ts';
import { forwardJournal } from './cluster-forwarding.ts';

/** The rules leader's read waits this long for news before it looks at requests and the clock. */
const READ_WAIT_MS = 100;
/** A read of the other hubs' entries waits this long for news. */
const PEER_WAIT_MS = 500;
/** Longest wait for a Redis command: well within the rules lease. */
const COMMAND_TIMEOUT_MS = 1000;
/** A failing leader loop waits this long before it tries again. */
const RETRY_MS = 500;

interface Term {
  token: number;
  /** The loop; resolves once the term has ended. */
  running: Promise<void>;
  ended: boolean;
}

export interface ClusterAlerting extends Alerting {
  health(): Promise<PartHealth>;
}

export interface ClusterOptions {
  url: string;
  /** What the other hubs take in: all Redis holds, for the device list; what is new, for the live feed. */
  peerEntries: { known: (entries: Entry[]) => void; live: (entries: Entry[]) => void };
  /** Told of each entry another hub forwarded that is not one, and was passed over. */
  entryPassedOver: () => void;
  /** Told of entries of this hub's journal passed over, never forwarded (cluster.max_stream_entries). */
  notForwarded: (count: number) => void;
}

export async function startClusterAlerting(
  options: AlertingOptions,
  cluster: ClusterOptions,
): Promise<ClusterAlerting> {
  const { config, journal, log, now } = options;
  const { url, peerEntries } = cluster;
  const node = nodeId(config.cluster);
  const { prefix } = config.cluster;
  const connections = await connectCluster({
    url,
    prefix,
    log,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    readWaitMs: READ_WAIT_MS,
    peerWaitMs: PEER_WAIT_MS,
  });
  const { redis, reading, peerReading, subscriber } = connections;

  const settings = ruleSettings(config);
  const ledger = new AlertLedger(join(config.data_dir, 'cluster-alerts.sqlite'));
  Outbox.prepare(ledger.db);
  const channel = `${prefix}:rules:state`;
  const mirror = new StateMirror({
    now,
    db: ledger.db,
    redis,
    channel,
    log,
    // The live feed of a node that does not lead hears of transitions through the copies.
    onRow: (table, row) => {
      const event = table === 'alert_events' && typeof row.doc === 'string' ? jsonObject(row.doc) : undefined;
      // Written by another hub: one that is not an event (damaged, another release's) is not told.
      if (isAlertEvent(event)) options.feed.publishAlert(event);
    },
  });
  const requests = new RuleRequests({ redis, subscriber, prefix, node });
  const nodes = new ClusterNodes(redis);
  const silent = new SilentHubs({ nodes, after: config.cluster.forget_node_after, now, log });
  const passedOver = passedOverReport(log, now, cluster.entryPassedOver);
  const reader = new StreamReader({ redis: reading, blockMs: READ_WAIT_MS, onMalformed: passedOver });

  // A replica follows the leader's copies; one it cannot place (a copy missed) loads the whole state.
  let term: Term | undefined;
  let loading: Promise<void> | undefined;
  const reload = () => {
    const before = mirror.unreadable;
    // Logged once for each new reason: a state that cannot be read is tried again every second.
    const failed = () => {
      if (mirror.unreadable !== before) log.warn(`could not load the rules' state from Redis: ${mirror.unreadable}`);
    };
    loading ??= mirror
      .load()
      .then(() => undefined, failed)
      .finally(() => (loading = undefined));
    return loading;
  };
  // Set as the hub lets go of Redis: a copy read after that (a connection being closed still
  // reads what was on its way) must not reach the replica, which closes next.
  let released = false;
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel || term || loading || released) return;
    if (!mirror.apply(message)) void reload();
  });
  await subscriber.subscribe(channel);
  // A state that cannot be read (Redis slow, a key damaged) is logged, and keeps no hub from starting.
  await reload();

  const { forwarder, forwarding } = forwardJournal(options, { redis, node, notForwarded: cluster.notForwarded });

  const peers = new PeerEntries({
    redis: peerReading,
    node,
    nodes,
    ...peerEntries,
    blockMs: PEER_WAIT_MS,
    onMalformed: passedOver,
    onError: (err) =>
      log.warn(
        { err: (err as Error).message },
        `cannot read what the other hubs take in (${(err as Error).message}); this hub's device list shows its own devices until Redis answers`,
      ),
  });
  peers.start();

  const starts = termStarts(config.cluster.lease_ms, now);
  /** The leader's work for one term: load, lead, loop until deposed. */
  const lead = (token: number): Term => {
    const marks = new Map<number, string>();
    const failed = new FailedEntries(passedOver);
    let lsn = 0;
    let positions = new Map<string, number>();
    const rewind = () => {
      const saved = Number(ledger.meta('lsn') ?? '0');
      lsn = Number.isSafeInteger(saved) ? saved : 0;
      positions = positionsIn(marks.get(saved) ?? ledger.meta('positions'));
    };
    const current: Term = { token, running: Promise.resolve(), ended: false };
    let started = false;
    current.running = (async () => {
      // A replica's load in flight must not land on the state this term loads.
      await loading;
      await mirror.load();
      rewind();
      marks.set(lsn, JSON.stringify(Object.fromEntries(positions)));
      // The positions go to Redis with the state they belong to: that of the engine's last save.
      mirror.lead(token, () => {
        const saved = Number(ledger.meta('lsn') ?? '0');
        const mark = marks.get(saved);
        if (mark === undefined) return;
        if (ledger.meta('positions') !== mark) ledger.setMeta('positions', mark);
        for (const at of marks.keys()) if (at < saved) marks.delete(at);
      });
      // The engine went back to its last save (a failed batch or tick): read again from there.
      const engineState = { reloaded: false };
      const parts = rulesOnLedger(options, ledger, {
        judgesHub: false,
        deliveryPrefix: 'cluster-',
        term: token,
        settled: () => mirror.settled(),
        onReload: () => (engineState.reloaded = true),
      });
      const { engine } = parts;
      log.warn({ node, term: token }, `this hub (${node}) now runs the rules for the cluster (term ${token})`);
      started = true;
      starts.succeeded();
      let lastTick = now();
      let failing = false;
      while (!current.ended) {
        if (engineState.reloaded) {
          engineState.reloaded = false;
          rewind();
        }
        try {
          for (const name of await nodes.known()) if (!positions.has(name)) positions.set(name, 0);
          const found = await reader.read(positions);
          const mark = (at: number) => marks.set(at, JSON.stringify(Object.fromEntries(positions)));
          for (const [from, { entries, through }] of found) {
            lsn = failed.apply(from, entries, lsn, engine.apply.bind(engine), (at, reached) => {
              positions.set(from, reached);
              mark(at);
            });
            positions.set(from, through);
            mark(lsn);
          }
          failed.wentThrough();
          await requests.serve((kind, args) => change(engine, kind, args));
          if (now() - lastTick >= TICK_MS) {
            lastTick = now();
            await parts.tick();
            await mirror.settled();
            // By the positions saved to Redis: a successor must find nothing it has not read gone.
            await silent.look(() => positionsIn(ledger.meta('positions')), positions);
          }
          if (failing) log.info('the rules leader reads the cluster again');
          failing = false;
        } catch (err) {
          if (!failing)
            log.error(
              { err: (err as Error).message },
              `the rules leader could not go on (${(err as Error).message}); retrying`,
            );
          failing = true;
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
      await parts.close();
      // What the term did last (deliveries done, the engine's unsaved state) goes to Redis, if it still may.
      try {
        engine.sync();
        await mirror.settled();
      } catch (err) {
        log.warn(
          { err: (err as Error).message },
          `the rules' last changes of term ${token} did not reach Redis (${(err as Error).message}); the next leader applies the entries since its last copy again`,
        );
      }
      mirror.follow();
    })().catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      // This handler must not fail: the term's end, and every transition after it, wait on it.
      try {
        mirror.follow();
      } catch (followErr) {
        log.error({ err: (followErr as Error).message }, `could not stop copying the rules' changes`);
      }
      // Deposed meanwhile, it holds no lease; otherwise the lease, kept, would be renewed with no
      // rules running: no hub of the cluster would judge anything. Only a failed start waits.
      const pauseMs = current.ended || started ? 0 : starts.failed(message);
      const what = started || current.ended ? 'ended on an error' : 'could not start';
      log.error(
        { err: message },
        `the rules term ${token} ${what}: ${message}${current.ended ? '' : `; this hub gives the rules lease up and asks for it again in ${Math.round(pauseMs / 1000)} s at the soonest`}`,
      );
      if (!current.ended) void lease.resign(token, `the term ${what}`, pauseMs);
    });
    return current;
  };

  const change = async (engine: RuleEngine, kind: RequestKind, args: unknown[]): Promise<unknown> => {
    const result = carryOut(engine, kind, args);
    // Answered once the change is the cluster's, not only this hub's.
    await mirror.settled();
    return result;
  };

  // Terms begin and end one after the other, each transition finished before the next.
  let transitions = Promise.resolve();
  let stopping = false;
  const endTerm = async (reason: string, stopping = false) => {
    const ending = term;
    if (!ending) return;
    ending.ended = true;
    log.warn({ node, term: ending.token }, `this hub (${node}) no longer runs the rules: ${reason}`);
    await ending.running;
    term = undefined;
    if (!stopping) await reload();
  };
  const lease = new RulesLease({
    redis,
    node,
    ttlMs: config.cluster.lease_ms,
    clock: {
      now: () => performance.now(),
      ...systemTimers,
    },
    onElected: (token) => {
      if (stopping) return;
      transitions = transitions.then(() => {
        term = lead(token);
      });
    },
    onDeposed: (reason) => {
      transitions = transitions.then(() => endTerm(reason));
    },
  });
  lease.start();

  // This hub's own health is judged here, whether or not Redis answers.
  let redisDownSince: number | undefined;
  const degradedAfterMs = ms(config.cluster.degraded_after);
  const ownAlerts = startOwnAlerts(options, node, () =>
    redisDownSince !== undefined && now() - redisDownSince >= degradedAfterMs
      ? {
          clusterProblem: `Redis at ${url} has not answered for ${Math.round((now() - redisDownSince) / 1000)} s (${connections.error ?? 'no answer'}): readings are acknowledged and kept in this hub's journal, but the floor's rules wait for Redis`,
        }
      : {},
  );

  const report = async () => {
    const status = journal.status();
    const reported: NodeReport = {
      node,
      at: now(),
      leads: term !== undefined,
      journalLsn: status.durableLsn,
      forwardedLsn: forwarder.lastForwarded,
      forwardingBehindMs: journal.behindMs('cluster'),
    };
    try {
      await nodes.report(reported);
      if (redisDownSince !== undefined) log.info(`Redis at ${url} answers again: this hub acts with the cluster again`);
      redisDownSince = undefined;
      // A copy of the state that could not be read is read again while Redis answers.
      if (!term && mirror.loadDue()) void reload();
    } catch {
      redisDownSince ??= now();
    }
  };
  const reporting = setInterval(() => void report(), TICK_MS);
  reporting.unref();
  void report();

  const ask = (kind: RequestKind, args: unknown[]) => requests.ask(kind, args);
  const access = alertAccess(
    ledger,
    {
      ack: (id, by, comment) => ask('ack', [id, by, comment]) as Promise<Alert>,
      addSilence: (s) => ask('addSilence', [s]) as Promise<Silence>,
      removeSilence: (id) => ask('removeSilence', [id]) as Promise<boolean>,
    },
    now,
  );
  const rules = (at: number) => effectiveRules(settings, at);
  let stopped: Promise<void> | undefined;
  return {
    routes: { engine: access, rules: () => rules(now()), now, timeZone: config.site.timezone },
    rules,
    health: async () => {
      const check = await clusterCheck({
        node,
        redisUrl: url,
        redisError: connections.error,
        nodes,
        reportFreshMs: 3 * TICK_MS,
        now: now(),
        startProblem: starts.problem,
        copyProblem: mirror.unreadable,
      });
      return { condition: check.ok ? 'ok' : 'degraded', check };
    },
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(reporting);
        await ownAlerts.stop();
        // The term ends while the lease is still this hub's: its last copy must be in Redis before
        // another hub can take the lease and load the state.
        stopping = true;
        transitions = transitions.then(() => endTerm('this hub is stopping', true));
        await transitions;
        await lease.stop();
        requests.close();
        await peers.stop();
        await forwarding.stop();
        released = true;
        connections.disconnect();
        await loading;
        ledger.close();
      })()),
  };
}
