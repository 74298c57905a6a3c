// The journal and the store behind it: the set-aside log, the fsync'd journal, the store (SQLite or
// InfluxDB), and the writer that moves journaled readings into the store, waiting out outages.
import { join } from 'node:path';
import { ms } from '../config/config.ts';
import { isIoError, Journal, systemClock, type JournalLog } from '../journal/journal.ts';
import { SetAsideLog } from '../journal/set-aside.ts';
import { InfluxStore } from '../store/influx/index.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { StoreUnavailable, type Store } from '../store/store.ts';
import { StoreWriter } from '../store/writer.ts';
import { NoticeLog } from '../telemetry/notices.ts';
import type { HubContext } from './context.ts';
import { tickEvery, type Ticker } from './ticker.ts';
import { counted } from '../domain/counted.ts';
import { within } from '../domain/deadline.ts';

export interface Storage {
  setAside: SetAsideLog;
  journal: Journal;
  store: Store;
  writer: StoreWriter;
  /** Journal entries the store writer has not yet written. */
  storeBacklog: () => number;
}

/** At most one store write per this interval while readings keep coming; a reading after a quiet spell is written at once. */
const STORE_WRITE_INTERVAL_MS = 25;
const PRUNE_EVERY_MS = 3_600_000;
/** How often minutes that have closed are rolled up. */
const ROLL_UP_EVERY_MS = 5000;
/** The longest the hub's start waits for its store to answer. */
const STORE_START_WAIT_MS = 3000;
/** Above this many entries waiting for the store, health reports a backlog. */
const BACKLOG_WARNING = 10_000;

function createStore(ctx: HubContext): Store {
  const { config, now, metrics, log } = ctx;
  const notices = new NoticeLog(log, now);
  const { influx_url: url, influx_schema: schema, raw_retention, long_term_retention } = config.storage;
  // Reads the API asks for wait at most so many, whichever the store: past it "busy" at once.
  const reads = {
    maxWaiting: config.storage.max_waiting_reads,
    onBusy: (maxWaiting: number) => {
      metrics.storeReadsBusy.inc();
      notices.once(
        'store-reads-busy',
        `the store's reads are busy: ${maxWaiting} already wait for it (storage.max_waiting_reads); more are answered 503 until it catches up`,
      );
    },
  };
  // Alert history is kept as long as the minutes.
  if (url)
    return new InfluxStore({
      url,
      rawRetention: raw_retention,
      longTermRetention: long_term_retention,
      now,
      schema,
      reads,
    });
  return new SqliteStore({
    path: join(config.data_dir, 'readings.sqlite'),
    rawRetentionMs: ms(raw_retention),
    longTermRetentionMs: ms(long_term_retention),
    now,
    // Neither a chart over weeks nor a write batch, a roll-up or a checkpoint on a slow disk may
    // hold acknowledgements and the rules while SQLite works; nor a chart other reads.
    writeThread: true,
    readThreads: { ...reads, threads: config.storage.read_threads },
  });
}

export async function openStorage(ctx: HubContext, options: { fsync: boolean; ticker?: Ticker }): Promise<Storage> {
  const { config, log, metrics, now, lifecycle } = ctx;
  const journalLog: JournalLog = (level, msg, fields) => log[level](fields ?? {}, msg);
  const setAside = await SetAsideLog.open({
    path: join(config.data_dir, 'set-aside.jsonl'),
    capacity: config.storage.set_aside_kept,
    now,
    log: journalLog,
    onAdd: (record) => metrics.setAside.inc({ stage: record.stage }),
  });
  lifecycle.add({ name: 'set-aside log', stop: () => setAside.close() });

  const journal = await Journal.open({
    dir: join(config.data_dir, 'journal'),
    fsync: options.fsync,
    log: journalLog,
    setAside,
    clock: { ...systemClock, now },
    onFlushed: (seconds) => metrics.journalFlushSeconds.observe(seconds),
  });
  const storeBacklog = () => journal.status().consumers.find((c) => c.name === 'store')?.lag ?? 0;
  lifecycle.add({
    name: 'journal',
    stop: () => journal.close(),
    health: () => {
      const status = journal.status();
      const backlog = storeBacklog();
      return {
        condition: !status.writable ? 'down' : backlog > BACKLOG_WARNING ? 'degraded' : 'ok',
        check: {
          ok: status.writable,
          detail: status.writable
            ? `${counted(backlog, 'entry', 'entries')} waiting for the store`
            : `cannot write to disk (${status.lastError ?? 'unknown error'}): new readings are not acknowledged`,
          backlog,
          durableLsn: status.durableLsn,
          consumers: status.consumers,
          segments: status.segments,
          bytes: status.bytes,
        },
      };
    },
    refreshGauges: () => {
      const status = journal.status();
      metrics.journalWritable.set(status.writable ? 1 : 0);
      for (const c of status.consumers) {
        metrics.journalLag.set({ consumer: c.name }, c.lag);
        if (c.behindMs !== undefined) metrics.journalBehind.set({ consumer: c.name }, c.behindMs / 1000);
      }
    },
  });

  const store = createStore(ctx);
  const writer = new StoreWriter({
    store,
    metrics,
    log,
    now,
    setAside: (refused) => setAside.refusedReadings(refused),
    minutesWaitingMax: config.storage.minutes_waiting_max,
  });
  // The hub still starts without its store: readings wait in the journal, and the writer sets the
  // store up at its first write. A store that does not answer (InfluxDB stalled) holds the start
  // no longer than STORE_START_WAIT_MS, rather than its queries' time limits one after another.
  const ready = () => log.info({ store: store.name }, `storage ready: ${store.name}`);
  const unreachable = (err: unknown) =>
    log.error(
      { store: store.name, err: (err as Error).message },
      `storage not reachable at start (${(err as Error).message}); readings are kept in the journal until it is`,
    );
  const initialising = store.init();
  try {
    if (await within(initialising, STORE_START_WAIT_MS)) ready();
    else {
      log.warn(
        { store: store.name },
        `storage has not answered within ${STORE_START_WAIT_MS / 1000} s at start; the hub starts without it, and readings are kept in the journal until it does`,
      );
      initialising.then(ready, unreachable);
    }
  } catch (err) {
    unreachable(err);
  }
  const prune = async () => {
    try {
      const removed = await store.prune?.(now());
      if (removed && removed.readings > 0)
        log.info(
          { removed: removed.readings },
          `removed ${counted(removed.readings, 'reading')} older than the raw retention (${config.storage.raw_retention}); their 1-minute aggregates stay`,
        );
      if (removed && removed.minutes > 0)
        log.info(
          { removed: removed.minutes },
          `removed ${counted(removed.minutes, '1-minute aggregate')} older than the long-term retention (${config.storage.long_term_retention})`,
        );
      if (removed && removed.alertEvents > 0)
        log.info(
          { removed: removed.alertEvents },
          `removed ${counted(removed.alertEvents, 'alert history entry', 'alert history entries')} older than the long-term retention (${config.storage.long_term_retention})`,
        );
    } catch (err) {
      log.warn(
        { err: (err as Error).message },
        'could not remove expired readings, minutes and alert history; will try again in an hour',
      );
    }
  };
  // One at a time: a prune a hung disk holds is not joined by another every hour.
  const stopPruning = store.prune ? tickEvery(PRUNE_EVERY_MS)(prune) : undefined;
  let refusalsClearAfterMs = ms(config.rules.storage_rejecting_clears_after);
  let downAfterMs = ms(config.rules.storage_down_after);
  /** Seconds the store has left a write unanswered, once that is as long as the storage_down alert waits. */
  const silentSeconds = (): number | undefined => {
    const waited = writer.unansweredFor();
    return waited !== undefined && waited >= downAfterMs ? Math.round(waited / 1000) : undefined;
  };
  lifecycle.add({
    name: 'store',
    reconfigure: (next) => () => {
      refusalsClearAfterMs = ms(next.rules.storage_rejecting_clears_after);
      downAfterMs = ms(next.rules.storage_down_after);
    },
    refreshGauges: () => metrics.storeUp.set(writer.state.ok && silentSeconds() === undefined ? 1 : 0),
    stop: async () => {
      // Not waited for: closing the store bounds what it waits for.
      void stopPruning?.();
      await store.close();
    },
    health: async () => {
      // Read before the store's own check, which may wait out its time limit on a store that hangs.
      const state = { ...writer.state };
      const silentFor = silentSeconds();
      const storeHealth = await store.health();
      const ok = storeHealth.ok && state.ok && silentFor === undefined;
      const refusing = state.lastRefusalAt !== undefined && now() - state.lastRefusalAt < refusalsClearAfterMs;
      return {
        condition: !ok ? 'down' : refusing ? 'degraded' : 'ok',
        check: {
          ok,
          detail: ok
            ? `${store.name}: ${storeHealth.detail}`
            : `${store.name} down: ${state.lastError ?? (silentFor === undefined ? storeHealth.detail : `has not answered a write for ${silentFor} s`)}`,
          backend: store.name,
          ...(state.downSince !== undefined && { downSince: state.downSince }),
          ...(state.lastWriteAt !== undefined && { lastWriteAt: state.lastWriteAt }),
          refused: state.refused,
          minutesWaiting: writer.minutes.size,
          minutesDropped: state.minutesDropped,
          ...(state.lastMinutesDrop !== undefined && { lastMinutesDrop: state.lastMinutesDrop }),
          ...(state.lastRefusalAt !== undefined && {
            lastRefusalAt: state.lastRefusalAt,
            lastRefusal: state.lastRefusal,
          }),
        },
      };
    },
  });

  const writing = journal.consume('store', writer.write, {
    // The position stays at the oldest minute still waiting to be rolled up, and on stop every
    // minute waiting is rolled up first.
    holds: writer.held,
    finish: writer.finish,
    // Under load, fewer and larger writes: InfluxDB spends far less CPU per reading in big ones.
    minCallIntervalMs: STORE_WRITE_INTERVAL_MS,
    // An unavailable store is waited for, however long; refusals never reach the journal.
    transient: (err) => err instanceof StoreUnavailable || isIoError(err),
    onError: (err, attempt) => {
      if (attempt === 1) log.debug({ err: (err as Error).message }, 'store write failed; retrying');
    },
  });
  lifecycle.add({ name: 'store writer', stop: () => writing.stop() });
  const stopRollingUp = (options.ticker ?? tickEvery(ROLL_UP_EVERY_MS))(writer.rollUpDue);
  lifecycle.add({ name: 'minutes roll-up', stop: stopRollingUp });
  return { setAside, journal, store, writer, storeBacklog };
}
