// The rule engine: a journal consumer that evaluates the floor's requirements on the stream of
// readings, heartbeats and presence changes in event time — it never queries the store, so a
// storage outage does not stop it — plus a clock tick for what only the passing of time reveals
// (silence, staleness, pending `for`, keep_firing_for, escalation, flapping going quiet) and the
// hub's own health.
//
// The evaluation itself is the rules' lifecycle (`lifecycle.ts`, pure); the engine only loads its
// state from the ledger, applies each observation (the lifecycle's findings go to the alert book),
// saves, and announces what changed once it is on disk.
//
// Consistency with the journal: the last applied LSN is saved in the same SQLite transaction as
// the state and the outbox rows it reflects, and entries at or below it are skipped, so a batch
// the journal hands over again is applied exactly once. Saving every device's evaluation state
// for every batch cost more than evaluating it, so a batch that changed nothing in the alert
// ledger leaves its device state in memory: it is saved, with its LSN, by the next batch that
// changes an alert, and at least every SAVE_EVERY_MS. A save is made durable before its
// transitions are announced, before an operator's change is answered, and at least every
// SAVE_EVERY_MS; others need not wait for the disk. The engine keeps its own journal position:
// `position()`, the LSN of the last durable save. The journal delivers after it at start and
// after a failed batch (the engine then reloads its last save), and keeps the entries after it.
import type { Entry, Forgetting } from '../domain/reading.ts';
import { AlertBook, AlertError, type AlertBookSettings } from './alerts.ts';
import type { HubStatus } from './hub-health.ts';
import type { AlertLedger } from './ledger.ts';
import {
  decodeDevice,
  decodeGateways,
  encodeDevice,
  encodeGateways,
  Lifecycle,
  type Observation,
  type RuleSettings,
  type RuleState,
} from './lifecycle.ts';
import type { Alert, AlertEvent, Silence } from '../domain/alert.ts';

export type { HubStatus } from './hub-health.ts';

export interface EngineHooks {
  /** Told when a device's saved state cannot be read, or the tick could not judge it: the others carry on. */
  onFault?: (device: string, err: unknown) => void;
  /**
   * Told when a failed change (a batch, the tick, an operator's request) took the engine back to
   * its last save, losing batches applied since: the journal must hand over again what follows
   * `position()`.
   */
  onReload?: () => void;
  /** The routes that remind of a firing, unacknowledged alert, and how often. */
  reminders?: AlertBookSettings['reminders'];
}

export interface AlertSink {
  /** Inside the transaction that commits the transitions: make their notifications durable. */
  record(events: readonly AlertEvent[]): void;
  /** After the commit: tell live subscribers. */
  announce(events: readonly AlertEvent[]): void;
}

/** Evaluation state left unsaved is saved at least this often (engine clock). */
const SAVE_EVERY_MS = 1000;
/**
 * Silences kept, in force or to come, past which the API adds none: the file's (at most 1,000 of
 * its own, which a reload keeps whatever this says) and the API's together. Each is judged
 * against every alert at each change.
 */
export const MAX_SILENCES = 2000;

export class RuleEngine {
  private lifecycle: Lifecycle;
  // Assigned by load().
  private state!: RuleState;
  private book!: AlertBook;
  private appliedLsn!: number;
  private savedLsn!: number;
  private savedAt!: number;
  /** Devices whose evaluation state changed since it was last saved. */
  private dirty = new Set<string>();
  private gatewaysChanged = false;
  /** The LSN of the last save known to be on disk: the engine's journal position. */
  private syncedLsn: number;
  private syncedAt: number;
  /** Transitions committed but not yet known to be on disk, so not yet announced. */
  private unannounced: AlertEvent[] = [];
  readonly startedAt: number;

  constructor(
    private settings: RuleSettings,
    private readonly ledger: AlertLedger,
    private readonly sink: AlertSink,
    private readonly now: () => number,
    private readonly hooks: EngineHooks = {},
  ) {
    this.startedAt = now();
    this.lifecycle = new Lifecycle(settings, this.startedAt);
    this.load();
    // An earlier run's last commits may be in the page cache only (a kill -9 does not flush them).
    try {
      this.ledger.sync();
      this.syncedLsn = this.savedLsn;
    } catch {
      // Not known to be on disk: every entry retained comes again, and those applied are skipped.
      this.syncedLsn = 0;
    }
    this.syncedAt = now();
  }

  /** (Re)reads everything from the ledger: at start, and after a failed batch rolled back. */
  private load(): void {
    this.state = { devices: new Map(), gateways: decodeGateways(this.ledger.meta('gateways')) };
    for (const [id, doc] of this.ledger.devices()) {
      // A state this release cannot read costs that device its history, not the hub its rules.
      try {
        this.state.devices.set(id, decodeDevice(doc));
      } catch (err) {
        this.hooks.onFault?.(id, err);
      }
    }
    this.appliedLsn = Number(this.ledger.meta('lsn') ?? '0');
    this.savedLsn = this.appliedLsn;
    this.savedAt = this.now();
    this.book = new AlertBook(this.ledger, {
      escalateAfterMs: this.settings.escalateAfterMs,
      now: this.now,
      ...(this.hooks.reminders && { reminders: this.hooks.reminders }),
    });
    this.dirty.clear();
    this.gatewaysChanged = false;
  }

  /** The journal handler. */
  apply(entries: readonly Entry[], lastLsn: number): void {
    if (lastLsn <= this.appliedLsn) return;
    const firstLsn = lastLsn - entries.length + 1;
    const now = this.now();
    this.commit(
      () => {
        entries.forEach((entry, i) => {
          if (firstLsn + i <= this.appliedLsn) return;
          if (entry.type === 'forgotten') this.forget(entry.forgotten, now);
          else this.observe(entry, now);
        });
      },
      { lsn: lastLsn },
    );
  }

  /** Time-driven rules at the clock's now; `hub` feeds the self-alerts. */
  tick(hub?: HubStatus): void {
    const now = this.now();
    this.commit(() => {
      this.observe({ type: 'tick' }, now);
      if (hub) this.observe({ type: 'hub', hub }, now);
      this.book.tick(now);
    });
  }

  /** One step of the lifecycle: its findings go to the alert book, what it changed is saved later. */
  private observe(observation: Observation, now: number): void {
    const step = this.lifecycle.step(this.state, observation, now);
    for (const id of step.changed) this.dirty.add(id);
    if (step.gatewaysChanged) this.gatewaysChanged = true;
    for (const f of step.faults) this.hooks.onFault?.(f.device, f.error);
    for (const finding of step.events) this.book.observe(finding);
  }

  /**
   * Takes on the settings of a reloaded configuration. The evaluation state and the alerts stay,
   * so the pending time of a rule that did not change keeps running and a firing alert is judged
   * by its new limits at its next reading; the alerts of declared devices and zones the
   * configuration no longer has resolve, saying so, and those devices' state goes.
   */
  reconfigure(settings: RuleSettings, removed: { devices: readonly string[]; zones: readonly string[] }): void {
    this.commit(
      () =>
        this.drop(
          new Set(removed.devices),
          new Set(removed.zones),
          this.now(),
          (gone) => `${gone} removed from the configuration`,
        ),
      { durable: true },
    );
    this.settings = settings;
    this.lifecycle = new Lifecycle(settings, this.startedAt);
    // The alert book takes its own settings (escalation) when it is read again.
    this.load();
  }

  /**
   * Resolves the live alerts of the devices and zones that are gone, saying why, and forgets the
   * devices' state; part of the caller's commit.
   */
  private drop(
    devices: ReadonlySet<string>,
    zones: ReadonlySet<string>,
    at: number,
    why: (gone: string) => string,
  ): void {
    for (const a of this.book.liveAlerts()) {
      const gone = devices.has(a.subject) ? a.subject : zones.has(a.zone) ? `zone ${a.zone}` : undefined;
      if (gone === undefined) continue;
      this.book.observe({
        key: a.key,
        rule: a.rule,
        subject: a.subject,
        zone: a.zone,
        state: 'ok',
        at,
        summary: `${a.summary}: resolved, ${why(gone)}`,
      });
    }
    for (const id of devices) {
      this.state.devices.delete(id);
      this.dirty.delete(id);
      this.ledger.deleteDevice(id);
    }
  }

  /** A device an operator said is gone: its alerts resolve and its state goes. A declared device stays until the configuration drops it. */
  private forget({ device, by }: Forgetting, now: number): void {
    if (this.settings.devices.has(device) || this.settings.gatewayOf.has(device)) return;
    this.drop(new Set([device]), new Set(), now, (gone) => `${gone} forgotten by ${by}`);
  }

  ack(id: number, by: string, comment?: string): Alert {
    return this.commit(() => this.book.ack(id, by, comment, this.now()), { durable: true });
  }

  addSilence(s: Omit<Silence, 'id' | 'createdAt'>): Silence {
    if (this.book.silenceCount() >= MAX_SILENCES)
      throw new AlertError(
        409,
        `${MAX_SILENCES} silences are kept already, in force or to come, the most allowed: end those no longer needed (DELETE /api/v1/silences/:id), or wait for some to run out`,
      );
    return this.commit(() => this.book.addSilence({ ...s, createdAt: this.now() }, this.now()), { durable: true });
  }

  /** Holds the configuration file's silences as the file has them now (see AlertBook.keepFileSilences). */
  keepFileSilences(owner: (s: Silence) => boolean, wanted: readonly Omit<Silence, 'id' | 'createdAt'>[]): void {
    const now = this.now();
    this.commit(
      () =>
        this.book.keepFileSilences(
          owner,
          wanted.map((w) => ({ ...w, createdAt: now })),
          now,
        ),
      { durable: true },
    );
  }

  removeSilence(id: number): boolean {
    return this.commit(() => this.book.removeSilence(id, this.now()), { durable: true });
  }

  /** The engine's journal position: the last entry whose effects are saved and on disk. */
  position(): number {
    return this.syncedLsn;
  }

  /**
   * Where an engine with no saved position starts: after `lsn`, the entries up to it being
   * history rather than news. Saved at once, so a restart goes on from there.
   */
  startAfter(lsn: number): void {
    if (this.ledger.meta('lsn') !== undefined) return;
    this.commit(() => this.ledger.setMeta('lsn', String(lsn)), { durable: true, lsn });
  }

  /** Saves every applied batch, durably (at a stop, so a start needs nothing handed over again). */
  sync(): void {
    this.commit(() => undefined, { durable: true });
  }

  /** Firing alerts whose notification went out: what the retained MQTT messages should say. */
  announcedFiring(): Alert[] {
    return this.book.toldFiring();
  }

  /**
   * Runs a change in one transaction with its notifications; `lsn` is the journal position the
   * change brings the engine to. The evaluation state is saved with it when the change touched the
   * alert ledger, when asked to be durable, or when the last save is SAVE_EVERY_MS old. On error
   * the saved state is reloaded; batches applied since that save are lost with it, and `onReload`
   * asks the journal to hand them over again, from `position()`.
   */
  private commit<T>(change: () => T, { durable = false, lsn = this.appliedLsn } = {}): T {
    let events: AlertEvent[] = [];
    let result: T;
    let saved: boolean;
    try {
      [result, saved] = this.ledger.transaction((): [T, boolean] => {
        const writesBefore = this.ledger.changes();
        const r = change();
        events = this.book.drain();
        this.sink.record(events);
        const save = durable || this.ledger.changes() !== writesBefore || this.now() - this.savedAt >= SAVE_EVERY_MS;
        if (save) {
          this.book.saveUpdates();
          for (const id of this.dirty) {
            const d = this.state.devices.get(id);
            if (d) this.ledger.saveDevice(id, encodeDevice(d));
          }
          if (this.gatewaysChanged) this.ledger.setMeta('gateways', encodeGateways(this.state.gateways));
          if (lsn !== this.savedLsn) this.ledger.setMeta('lsn', String(lsn));
        }
        return [r, save];
      });
    } catch (err) {
      // An operator's request refused (no such alert) changed nothing: no reload.
      if (err instanceof AlertError) throw err;
      const lost = this.appliedLsn > this.savedLsn;
      this.load();
      if (lost) this.hooks.onReload?.();
      throw err;
    }
    this.appliedLsn = lsn;
    if (saved) {
      this.savedLsn = lsn;
      this.savedAt = this.now();
      this.dirty.clear();
      this.gatewaysChanged = false;
    }
    // Transitions are announced only once they are on disk; if that fails they wait for the next
    // sync that works, and a durable change reports the failure. The position follows each sync.
    this.unannounced.push(...events);
    const syncDue = this.savedLsn > this.syncedLsn && this.now() - this.syncedAt >= SAVE_EVERY_MS;
    if (durable || this.unannounced.length > 0 || syncDue) {
      try {
        this.ledger.sync();
      } catch (err) {
        if (durable) throw err;
        return result;
      }
      this.syncedLsn = this.savedLsn;
      this.syncedAt = this.now();
      const announce = this.unannounced;
      this.unannounced = [];
      if (announce.length > 0) this.sink.announce(announce);
    }
    return result;
  }
}
