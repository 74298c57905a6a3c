// The rule engine: a journal consumer that evaluates the floor's requirements on the stream of
// readings, heartbeats and presence changes in event time — it never queries the store, so a
// storage outage does not stop it — plus a clock tick for what only the passing of time reveals
// (silence, staleness, pending `for`, keep_firing_for, escalation, flapping going quiet) and the
// hub's own health.
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
//
// Late readings: each (device, metric) has an evaluation point, the event time of the newest
// reading evaluated. A reading at or before it still joins the windows (so later averages are
// right) but is not evaluated: it never re-opens a resolved alert nor resolves a live one.
import type { DeviceKind, Entry, Heartbeat, Reading, StatusChange } from '../domain/reading.ts';
import { AlertBook, AlertError, type Observation } from './alerts.ts';
import { faultsOf } from './equipment.ts';
import { addLevel, parseShifts, projectedLex8h, type ExposureState } from './exposure.ts';
import type { Alert, AlertEvent, AlertLedger, Silence } from './ledger.ts';
import { judge, recordData, recordPresence, type Liveness, type Presence } from './liveness.ts';
import { HUB_HEALTH, LIVENESS, type Limit, type Requirement, type Severity } from './requirements.ts';
import type { RuleBook } from './rulebook.ts';
import { evaluateThreshold, newThresholdState, type ThresholdOutcome, type ThresholdState } from './threshold.ts';
import { dosePercent, Window, type Bucket } from './window.ts';

export interface DeclaredDevice {
  kind: DeviceKind;
  zone?: string;
  intervalMs: number;
  battery: boolean;
}

/** The site as the rules see it: built once from the configuration (`ruleSettings`). */
export interface RuleSettings {
  book: RuleBook;
  devices: ReadonlyMap<string, DeclaredDevice>;
  /** Device → the gateway it reports through (declared `gateway:` fields and serial ports). */
  gatewayOf: ReadonlyMap<string, string>;
  startupGraceMs: number;
  escalateAfterMs: number;
  storageDownAfterMs: number;
  /** storage_rejecting resolves once the store has refused nothing for this long. */
  storageRejectingClearsAfterMs: number;
  /** Shift start times, "HH:MM" local time. */
  shifts: readonly string[];
}

export interface HubStatus {
  storeName: string;
  storeOk: boolean;
  storeDownSince?: number;
  storeError?: string;
  /** Readings the store refused for good since the hub started, and the last refusal. */
  storeRefused?: number;
  storeLastRefusalAt?: number;
  storeLastRefusal?: string;
  /** Journal entries waiting for the store. */
  backlog: number;
  journalWritable: boolean;
  journalError?: string;
  diskFreePercent?: number;
}

export interface EngineHooks {
  /** Told when a device's saved state cannot be read, or the tick could not judge it: the others carry on. */
  onFault?: (device: string, err: unknown) => void;
  /**
   * Told when a failed change (a batch, the tick, an operator's request) took the engine back to
   * its last save, losing batches applied since: the journal must hand over again what follows
   * `position()`.
   */
  onReload?: () => void;
}

export interface AlertSink {
  /** Inside the transaction that commits the transitions: make their notifications durable. */
  record(events: readonly AlertEvent[]): void;
  /** After the commit: tell live subscribers. */
  announce(events: readonly AlertEvent[]): void;
}

interface Track {
  /** The evaluation point: event time of the newest reading evaluated. */
  last?: number;
  value: number;
  intervalMs?: number;
  buckets: Bucket[];
  stale?: true;
}

interface DeviceState {
  zone: string;
  kind?: DeviceKind;
  life: Liveness;
  tracks: Map<string, Track>;
  thresholds: Map<string, ThresholdState>;
  heartbeatAt?: number;
  /** Equipment rules alerting for this device. */
  faults: string[];
  exposure?: ExposureState;
}

interface GatewayState {
  zone: string;
  presence?: Presence;
  /** When it last came back: devices behind it are judged from then on. */
  backAt?: number;
}

const DEFAULT_INTERVAL_MS = 60_000;
const MIN_STALE_MS = 60_000;
const HUB = 'hub';
const RANK: Record<Severity, number> = { warning: 1, critical: 2 };

function serialize(d: DeviceState): unknown {
  return { ...d, tracks: [...d.tracks], thresholds: [...d.thresholds] };
}

function deserialize(doc: unknown): DeviceState {
  const d = doc as Omit<DeviceState, 'tracks' | 'thresholds'> & { tracks: [string, Track][]; thresholds: [string, ThresholdState][] };
  return { ...d, tracks: new Map(d.tracks), thresholds: new Map(d.thresholds) };
}

function format(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function zoneLabel(zone: string): string {
  return zone || 'unassigned';
}

/** Evaluation state left unsaved is saved at least this often (engine clock). */
const SAVE_EVERY_MS = 1000;

export class RuleEngine {
  private devices = new Map<string, DeviceState>();
  private gateways = new Map<string, GatewayState>();
  /** Devices whose evaluation state changed since it was last saved. */
  private dirty = new Set<string>();
  private gatewaysChanged = false;
  // Assigned by load().
  private appliedLsn!: number;
  private savedLsn!: number;
  private savedAt!: number;
  /** The LSN of the last save known to be on disk: the engine's journal position. */
  private syncedLsn: number;
  private syncedAt: number;
  /** Transitions committed but not yet known to be on disk, so not yet announced. */
  private unannounced: AlertEvent[] = [];
  private book!: AlertBook;
  private readonly shifts: number[];
  private readonly graceUntil: number;
  readonly startedAt: number;

  constructor(
    private readonly settings: RuleSettings,
    private readonly ledger: AlertLedger,
    private readonly sink: AlertSink,
    private readonly now: () => number,
    private readonly hooks: EngineHooks = {},
  ) {
    this.shifts = parseShifts(settings.shifts);
    this.startedAt = now();
    this.graceUntil = this.startedAt + settings.startupGraceMs;
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
    this.devices = new Map();
    for (const [id, doc] of this.ledger.devices()) {
      // A state this release cannot read costs that device its history, not the hub its rules.
      try {
        this.devices.set(id, deserialize(doc));
      } catch (err) {
        this.hooks.onFault?.(id, err);
      }
    }
    this.gateways = new Map(JSON.parse(this.ledger.meta('gateways') ?? '[]') as [string, GatewayState][]);
    this.appliedLsn = Number(this.ledger.meta('lsn') ?? '0');
    this.savedLsn = this.appliedLsn;
    this.savedAt = this.now();
    this.book = new AlertBook(this.ledger, { escalateAfterMs: this.settings.escalateAfterMs, now: this.now });
    this.dirty.clear();
    this.gatewaysChanged = false;
  }

  /** The journal handler. */
  apply(entries: readonly Entry[], lastLsn: number): void {
    if (lastLsn <= this.appliedLsn) return;
    const firstLsn = lastLsn - entries.length + 1;
    this.commit(() => {
      entries.forEach((entry, i) => {
        if (firstLsn + i > this.appliedLsn) this.applyEntry(entry);
      });
    }, { lsn: lastLsn });
  }

  /** Time-driven rules at the clock's now; `hub` feeds the self-alerts. */
  tick(hub?: HubStatus): void {
    const now = this.now();
    this.commit(() => {
      // One device whose state the rules cannot judge must not stop the clock for all the others.
      for (const [id, d] of this.devices) this.isolated(id, () => this.tickDevice(id, d, now));
      for (const id of [...this.settings.devices.keys(), ...this.settings.gatewayOf.keys()]) {
        if (!this.devices.has(id)) this.isolated(id, () => this.tickLiveness(id, this.device(id, this.settings.devices.get(id)?.zone ?? ''), now));
      }
      if (now >= this.graceUntil) this.tickGateways(now);
      if (hub) this.tickHub(hub, now);
      this.book.tick(now);
    });
  }

  /** Runs one device's part of the tick; a fault is reported (see `onFault`) and the tick goes on. */
  private isolated(device: string, part: () => void): void {
    try {
      part();
    } catch (err) {
      this.hooks.onFault?.(device, err);
    }
  }

  ack(id: number, by: string, comment?: string): Alert {
    return this.commit(() => this.book.ack(id, by, comment, this.now()), { durable: true });
  }

  addSilence(s: Omit<Silence, 'id' | 'createdAt'>): Silence {
    return this.commit(() => this.book.addSilence({ ...s, createdAt: this.now() }, this.now()), { durable: true });
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
    let saved = false;
    try {
      result = this.ledger.transaction(() => {
        const writesBefore = this.ledger.changes();
        const r = change();
        events = this.book.drain();
        this.sink.record(events);
        saved = durable || this.ledger.changes() !== writesBefore || this.now() - this.savedAt >= SAVE_EVERY_MS;
        if (saved) {
          this.book.saveUpdates();
          for (const id of this.dirty) {
            const d = this.devices.get(id);
            if (d) this.ledger.saveDevice(id, serialize(d));
          }
          if (this.gatewaysChanged) this.ledger.setMeta('gateways', JSON.stringify([...this.gateways]));
          if (lsn !== this.savedLsn) this.ledger.setMeta('lsn', String(lsn));
        }
        return r;
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

  private device(id: string, zone: string): DeviceState {
    let d = this.devices.get(id);
    if (!d) {
      d = { zone, life: {}, tracks: new Map(), thresholds: new Map(), faults: [] };
      const kind = this.settings.devices.get(id)?.kind;
      if (kind) d.kind = kind;
      this.devices.set(id, d);
    }
    if (zone) d.zone = zone;
    this.dirty.add(id);
    return d;
  }

  private observe(rule: string, subject: string, zone: string, o: Omit<Observation, 'key' | 'rule' | 'subject' | 'zone'>): void {
    this.book.observe({ key: `${rule}.${subject}`, rule, subject, zone: zone || 'unassigned', ...o });
  }

  private applyEntry(entry: Entry): void {
    if (entry.type === 'readings') for (const r of entry.readings) this.onReading(r);
    else if (entry.type === 'heartbeat') this.onHeartbeat(entry.heartbeat);
    else this.onStatus(entry.status);
  }

  private onData(id: string, d: DeviceState, ts: number): void {
    if (recordData(d.life, ts)) {
      this.observe('offline', id, d.zone, { state: 'ok', at: ts });
      // A gateway that is back: the devices behind it get their time to report again.
      if ([...this.settings.gatewayOf.values()].includes(id)) this.gateway(id).backAt = ts;
    }
  }

  private onReading(r: Reading): void {
    const d = this.device(r.device, r.zone);
    this.onData(r.device, d, r.ts);
    const reqs = this.settings.book.forMetric(d.zone, r.metric, r.ts);
    let track = d.tracks.get(r.metric);
    if (!track) {
      track = { value: r.value, buckets: [] };
      d.tracks.set(r.metric, track);
    }
    const span = Math.max(0, ...reqs.flatMap((q) => q.limits.map((l) => (l.over.kind === 'last' ? 0 : l.over.kind === 'lex8h' ? 3_600_000 : l.over.windowMs))));
    const window = new Window(span, track.buckets);
    if (span > 0) window.add(r.ts, r.value);
    if (track.last !== undefined && r.ts <= track.last) return;

    if (track.last !== undefined) {
      const gap = r.ts - track.last;
      track.intervalMs = track.intervalMs === undefined ? gap : Math.round(0.7 * track.intervalMs + 0.3 * gap);
    }
    track.last = r.ts;
    track.value = r.value;
    if (track.stale) {
      delete track.stale;
      this.observe(`stale.${r.metric}`, r.device, d.zone, { state: 'ok', at: r.ts });
    }

    for (const req of reqs) {
      let projected: number | undefined;
      if (req.limits.some((l) => l.over.kind === 'lex8h')) {
        d.exposure = addLevel(d.exposure, r.ts, r.value, this.shifts);
        const hour = window.laeq(r.ts, 3_600_000);
        if (hour !== undefined) projected = projectedLex8h(d.exposure, r.ts, this.shifts, hour);
      }
      const values = req.limits.map((l) => aggregate(l, window, r, projected));
      this.evaluate(r.device, d, req, values, r.ts);
    }
  }

  private evaluate(id: string, d: DeviceState, req: Requirement, values: readonly (number | undefined)[], at: number): void {
    let state = d.thresholds.get(req.key);
    if (!state) {
      state = newThresholdState(req);
      d.thresholds.set(req.key, state);
    }
    const outcome = evaluateThreshold(req, state, values, at);
    this.observe(req.key, id, d.zone, { state: outcome.state, at, ...(outcome.severity && { severity: outcome.severity }), ...describe(req, outcome, id, d.zone) });
  }

  private onHeartbeat(hb: Heartbeat): void {
    const d = this.device(hb.device, hb.zone);
    this.onData(hb.device, d, hb.ts);
    if (hb.kind) d.kind = hb.kind;
    if (d.heartbeatAt !== undefined && hb.ts <= d.heartbeatAt) return;
    d.heartbeatAt = hb.ts;
    const faults = faultsOf(hb);
    const label = `${d.kind ?? 'device'} ${hb.device} in ${zoneLabel(d.zone)}`;
    for (const f of faults) this.observe(f.rule, hb.device, d.zone, { state: 'firing', severity: f.severity, at: hb.ts, summary: `${label}: ${f.what}` });
    for (const rule of d.faults) if (!faults.some((f) => f.rule === rule)) this.observe(rule, hb.device, d.zone, { state: 'ok', at: hb.ts });
    d.faults = faults.map((f) => f.rule);
  }

  private onStatus(st: StatusChange): void {
    const presence: Presence = { status: st.status, at: st.ts };
    if (st.subject === 'gateway') {
      const g = this.gateway(st.id);
      if (st.zone) g.zone = st.zone;
      if (g.presence && st.ts < g.presence.at) return;
      const wasDown = g.presence?.status === 'offline';
      g.presence = presence;
      if (st.status === 'online') {
        if (wasDown) g.backAt = st.ts;
        this.observe('gateway_offline', st.id, st.zone, { state: 'ok', at: st.ts });
      }
      return;
    }
    const d = this.device(st.id, st.zone);
    recordPresence(d.life, presence);
  }

  private gateway(id: string): GatewayState {
    let g = this.gateways.get(id);
    if (!g) {
      g = { zone: '' };
      this.gateways.set(id, g);
    }
    this.gatewaysChanged = true;
    return g;
  }

  private gatewayDown(id: string): boolean {
    return this.gateways.get(id)?.presence?.status === 'offline' || this.devices.get(id)?.life.offline !== undefined;
  }

  private tickDevice(id: string, d: DeviceState, now: number): void {
    this.tickLiveness(id, d, now);
    // A connection from before this start is gone: only a birth since then says the device is connected.
    const online = d.life.presence?.status === 'online' && d.life.presence.at >= this.startedAt;
    for (const [metric, track] of d.tracks) {
      if (track.last === undefined) continue;
      const staleAfter = Math.max(MIN_STALE_MS, LIVENESS.staleIntervals.value * (track.intervalMs ?? DEFAULT_INTERVAL_MS));
      const fresh = now - track.last <= staleAfter;
      if (fresh) {
        // Pending `for` and keep_firing_for run out with time, but only while data keeps coming:
        // during a replay of old readings, their own event time decides.
        for (const req of this.settings.book.forMetric(d.zone, metric, now)) {
          const state = d.thresholds.get(req.key);
          if (state && (state.clearedAt !== undefined || state.limits.some((l) => l.since !== undefined))) {
            this.dirty.add(id);
            this.evaluate(id, d, req, [], now);
          }
        }
        continue;
      }
      const heardOtherwise = d.life.lastSeen !== undefined && now - d.life.lastSeen <= staleAfter;
      if (track.stale || track.intervalMs === undefined || d.life.offline || !(heardOtherwise || online) || now < this.graceUntil) continue;
      track.stale = true;
      this.dirty.add(id);
      this.observe(`stale.${metric}`, id, d.zone, {
        state: 'firing',
        severity: 'warning',
        at: now,
        summary: `${d.kind ?? 'device'} ${id} in ${zoneLabel(d.zone)} is connected but has sent no ${metric} for ${Math.round((now - track.last) / 1000)} s (it reported every ${Math.round(track.intervalMs / 1000)} s)`,
      });
    }
  }

  private tickLiveness(id: string, d: DeviceState, now: number): void {
    const declared = this.settings.devices.get(id);
    const gw = this.settings.gatewayOf.get(id);
    const watched = declared !== undefined || gw !== undefined;
    // Undeclared devices have no known interval: only their last will speaks for them.
    if (!watched && d.life.presence?.status !== 'offline') return;
    if (now < this.graceUntil) return;
    if (gw !== undefined && this.gatewayDown(gw)) return;
    // Silence counts from the newest of: last data, a birth, this start, the gateway coming back.
    const since = Math.max(d.life.lastSeen ?? -Infinity, this.startedAt, gw !== undefined ? (this.gateways.get(gw)?.backAt ?? -Infinity) : -Infinity, d.life.presence?.status === 'online' ? d.life.presence.at : -Infinity);
    const policy = watched ? { intervalMs: declared?.intervalMs ?? DEFAULT_INTERVAL_MS, battery: declared?.battery ?? false } : undefined;
    const verdict = judge(d.life, policy, now, since);
    if (!verdict) return;
    if (d.life.offline && RANK[d.life.offline.severity] >= RANK[verdict.severity]) return;
    d.life.offline = { severity: verdict.severity, seenBefore: d.life.lastSeen ?? 0, fresh: 0 };
    this.dirty.add(id);
    const behind = this.behind(id);
    const held = behind > 0 ? `; the offline alerts of the ${behind} devices behind it are held until it is back` : '';
    this.observe('offline', id, d.zone, { state: 'firing', severity: verdict.severity, at: now, summary: `${d.kind ?? 'device'} ${id} in ${zoneLabel(d.zone)} is offline: ${verdict.reason}${held}` });
  }

  private behind(gateway: string): number {
    return [...this.settings.gatewayOf.values()].filter((g) => g === gateway).length;
  }

  /** A gateway that reported offline raises one alert; the devices behind it are held meanwhile. */
  private tickGateways(now: number): void {
    for (const [id, g] of this.gateways) {
      if (g.presence?.status !== 'offline') continue;
      this.observe('gateway_offline', id, g.zone, { state: 'firing', severity: 'critical', at: now, summary: `gateway ${id} is offline; the offline alerts of the ${this.behind(id)} devices behind it are held until it is back` });
    }
  }

  private tickHub(hub: HubStatus, now: number): void {
    const hubObs = (rule: string, severity: Severity | undefined, summary?: string) =>
      this.observe(rule, HUB, HUB, severity ? { state: 'firing', severity, at: now, ...(summary && { summary }) } : { state: 'ok', at: now });

    const downFor = hub.storeDownSince === undefined ? 0 : now - hub.storeDownSince;
    const storeDown = !hub.storeOk && downFor >= this.settings.storageDownAfterMs;
    hubObs('storage_down', storeDown ? 'critical' : undefined, `storage down: ${hub.storeName} has refused writes for ${Math.round(downFor / 1000)} s (${hub.storeError ?? 'unknown error'}); readings wait in the journal and the floor's rules keep running`);

    // Readings refused for good are set aside and the rest keep flowing: a warning, not an outage.
    const refusing = hub.storeLastRefusalAt !== undefined && now - hub.storeLastRefusalAt < this.settings.storageRejectingClearsAfterMs;
    hubObs(
      'storage_rejecting',
      refusing ? 'warning' : undefined,
      `storage refuses some readings: ${hub.storeName} has refused ${hub.storeRefused ?? 0} reading(s) for good since the hub started, the last ${Math.round((now - (hub.storeLastRefusalAt ?? now)) / 1000)} s ago (${hub.storeLastRefusal ?? 'no reason given'}); the other readings are stored, and the refused ones are listed at GET /api/v1/rejections?stage=store`,
    );

    // A backlog while the store is down is the storage alert's business, not a second alert.
    const backlogHigh = hub.storeOk && hub.backlog > HUB_HEALTH.backlogEntries.value;
    const journal: Severity | undefined = !hub.journalWritable ? 'critical' : backlogHigh ? 'warning' : undefined;
    hubObs('journal', journal, !hub.journalWritable ? `the journal cannot write (${hub.journalError ?? 'unknown error'}): new readings are not acknowledged` : `${hub.backlog} readings wait for the store (draining)`);

    const free = hub.diskFreePercent;
    const disk: Severity | undefined = free === undefined ? undefined : free < HUB_HEALTH.diskFreeCriticalPercent.value ? 'critical' : free < HUB_HEALTH.diskFreeWarningPercent.value ? 'warning' : undefined;
    hubObs('disk_space', disk, `the data disk is nearly full: ${format(free ?? 0)} % free`);

  }
}

function aggregate(l: Limit, window: Window, r: Reading, projected: number | undefined): number | undefined {
  switch (l.over.kind) {
    case 'last':
      return r.value;
    case 'mean':
      return window.mean(r.ts, l.over.windowMs);
    case 'laeq':
      return window.laeq(r.ts, l.over.windowMs);
    case 'max':
      return window.max(r.ts, l.over.windowMs);
    case 'rise':
      return window.rise(r.ts, l.over.windowMs, r.value);
    case 'lex8h':
      return projected;
  }
}

function describe(req: Requirement, o: ThresholdOutcome, device: string, zone: string): Partial<Observation> {
  if (!o.limit || o.value === undefined) return {};
  const l = o.limit;
  const judgement = l.threshold.judgement ? ', engineering judgement' : '';
  const what =
    l.over.kind === 'rise'
      ? `rose ${format(o.value)} ${req.unit} in ${l.over.windowMs / 60_000} min`
      : l.over.kind === 'lex8h'
        ? `${format(o.value)} ${req.unit} by the end of the shift (dose ${Math.round(dosePercent(o.value))} %; a room sensor stands in for the ear)`
        : `${format(o.value)} ${req.unit}`;
  return {
    summary: `${req.title} at ${device} in ${zoneLabel(zone)}: ${what}, ${l.when} the ${l.severity} limit ${l.threshold.value} ${req.unit} (${l.threshold.source}${judgement})`,
    value: Math.round(o.value * 100) / 100,
    threshold: l.threshold.value,
    unit: req.unit,
    source: l.threshold.source,
  };
}
