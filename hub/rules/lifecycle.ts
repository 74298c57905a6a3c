// The rules' evaluation as one step function, the way Prometheus's AlertingRule.Eval works: given
// the evaluation state, one observation and the time, `step` brings the state up to date and
// returns what the rules found. No I/O and no clock of its own: the same state, observation and
// `now` always give the same findings. The engine around it loads the state, hands the findings to
// the alert book, saves and announces.
//
// Each kind of observation has its evaluator (the dispatch table at the end): readings judged
// against the environment requirements, heartbeats for equipment faults, presence changes, the
// passing of time (silence, staleness, pending `for` and keep_firing_for running out, gateways)
// and the hub's own health. Every lookup keyed by an id from outside is a Map.
import type { DeviceKind, Entry } from '../domain/reading.ts';
import type { Finding } from './alerts.ts';
import { zoneLabel } from './wording.ts';
import { environmentTick, onReading, type Track } from './environment.ts';
import { onHeartbeat } from './equipment.ts';
import { parseShifts, type ExposureState } from './exposure.ts';
import { onHubStatus, type HubStatus } from './hub-health.ts';
import { gatewaysTick, livenessTick, onStatus, type GatewayState, type Liveness } from './liveness.ts';
import type { RuleBook } from './rulebook.ts';
import type { ThresholdState } from './threshold.ts';

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
  /** notify_failing fires once deliveries to a target have failed this long. */
  notifyFailingAfterMs: number;
  /** storage_rejecting resolves once the store has refused nothing for this long. */
  storageRejectingClearsAfterMs: number;
  /** Shift start times, "HH:MM" local time. */
  shifts: readonly string[];
  /** dB(C): a peak at a headset at or above it is an acoustic incident. */
  acousticShockLevel: number;
}

export interface DeviceState {
  zone: string;
  kind?: DeviceKind;
  life: Liveness;
  /** Per metric: its windows and evaluation point. */
  tracks: Map<string, Track>;
  /** Per requirement key: its limits' pending and firing state. */
  thresholds: Map<string, ThresholdState>;
  heartbeatAt?: number;
  /** Equipment rules alerting for this device. */
  faults: string[];
  /** Battery and signal rules alerting for this device (DEVICE_HEALTH). */
  low?: string[];
  exposure?: ExposureState;
}

/** What the rules remember between observations. */
export interface RuleState {
  devices: Map<string, DeviceState>;
  gateways: Map<string, GatewayState>;
}

/**
 * What the rules observe: a journal entry, the clock moving on, or the hub's own health. A
 * forgotten device is the engine's to drop, with its alerts.
 */
export type Observation = Exclude<Entry, { type: 'forgotten' }> | { type: 'tick' } | { type: 'hub'; hub: HubStatus };

export interface Step {
  state: RuleState;
  /** What the rules found, in order: the alert book's input. */
  events: Finding[];
  /** Devices whose evaluation state changed, to be saved. */
  changed: readonly string[];
  gatewaysChanged: boolean;
  /** Devices the tick could not judge (a state this release cannot read); the others were judged. */
  faults: { device: string; error: unknown }[];
}

/** What stays the same from one step to the next. */
export interface RuleSite {
  readonly settings: RuleSettings;
  /** When the hub started: silence counts from then at the earliest. */
  readonly startedAt: number;
  /** No offline alert before this. */
  readonly graceUntil: number;
  /** Shift starts, minutes after local midnight. */
  readonly shifts: readonly number[];
  /** Gateway → how many devices report through it. */
  readonly behind: ReadonlyMap<string, number>;
}

/** One step under way: the state it changes, what it has found so far, and what changed. */
export class Evaluation {
  readonly events: Finding[] = [];
  /** A list, not a set: one is made for every observation, and the engine dedupes them as it saves. */
  readonly changed: string[] = [];
  gatewaysChanged = false;
  readonly faults: Step['faults'] = [];

  constructor(
    readonly site: RuleSite,
    readonly state: RuleState,
    readonly now: number,
  ) {}

  /** A device's state, made on first sight; the zone follows what it last reported. */
  device(id: string, zone: string): DeviceState {
    let d = this.state.devices.get(id);
    if (!d) {
      d = { zone, life: {}, tracks: new Map(), thresholds: new Map(), faults: [] };
      const kind = this.site.settings.devices.get(id)?.kind;
      if (kind) d.kind = kind;
      this.state.devices.set(id, d);
    }
    if (zone) d.zone = zone;
    this.markChanged(id);
    return d;
  }

  markChanged(id: string): void {
    if (this.changed.at(-1) !== id) this.changed.push(id);
  }

  gateway(id: string): GatewayState {
    let g = this.state.gateways.get(id);
    if (!g) {
      g = { zone: '' };
      this.state.gateways.set(id, g);
    }
    this.gatewaysChanged = true;
    return g;
  }

  /** Records a finding about `rule` for `subject`: its key is rule + subject. */
  find(rule: string, subject: string, zone: string, o: Omit<Finding, 'key' | 'rule' | 'subject' | 'zone'>): void {
    this.events.push({ key: `${rule}.${subject}`, rule, subject, zone: zoneLabel(zone), ...o });
  }

  /** Runs one device's part of a tick; a fault is recorded and the tick goes on with the others. */
  isolated(device: string, part: () => void): void {
    try {
      part();
    } catch (error) {
      this.faults.push({ device, error });
    }
  }
}

/** The passing of time: every device's silence, staleness and timers, then the gateways. */
function onTick(ev: Evaluation): void {
  const { settings, graceUntil } = ev.site;
  for (const [id, d] of ev.state.devices) {
    ev.isolated(id, () => {
      livenessTick(ev, id, d);
      environmentTick(ev, id, d);
    });
  }
  // Declared devices never heard from are silent too.
  for (const id of [...settings.devices.keys(), ...settings.gatewayOf.keys()]) {
    if (!ev.state.devices.has(id))
      ev.isolated(id, () => livenessTick(ev, id, ev.device(id, settings.devices.get(id)?.zone ?? '')));
  }
  if (ev.now >= graceUntil) gatewaysTick(ev);
}

type Evaluators = { [T in Observation['type']]: (ev: Evaluation, o: Extract<Observation, { type: T }>) => void };

const EVALUATORS: Evaluators = {
  readings: (ev, o) => {
    for (const r of o.readings) onReading(ev, r);
  },
  heartbeat: (ev, o) => onHeartbeat(ev, o.heartbeat),
  status: (ev, o) => onStatus(ev, o.status),
  tick: (ev) => onTick(ev),
  hub: (ev, o) => onHubStatus(ev, o.hub),
};

function dispatch(ev: Evaluation, o: Observation): void {
  // The table pairs each type with its evaluator; TypeScript cannot follow o.type into both.
  (EVALUATORS[o.type] as (ev: Evaluation, o: Observation) => void)(ev, o);
}

export class Lifecycle {
  readonly site: RuleSite;

  constructor(settings: RuleSettings, startedAt: number) {
    const behind = new Map<string, number>();
    for (const gateway of settings.gatewayOf.values()) behind.set(gateway, (behind.get(gateway) ?? 0) + 1);
    this.site = {
      settings,
      startedAt,
      graceUntil: startedAt + settings.startupGraceMs,
      shifts: parseShifts(settings.shifts),
      behind,
    };
  }

  /** Applies one observation at `now` to `state` (changed in place) and returns what the rules found. */
  step(state: RuleState, observation: Observation, now: number): Step {
    const ev = new Evaluation(this.site, state, now);
    dispatch(ev, observation);
    return { state, events: ev.events, changed: ev.changed, gatewaysChanged: ev.gatewaysChanged, faults: ev.faults };
  }
}

/** A device's state as the ledger keeps it (JSON: its Maps as entry lists). */
export function encodeDevice(d: DeviceState): unknown {
  return { ...d, tracks: [...d.tracks], thresholds: [...d.thresholds] };
}

/** A device's state as saved; throws on a shape this release cannot read. */
export function decodeDevice(doc: unknown): DeviceState {
  const d = doc as Omit<DeviceState, 'tracks' | 'thresholds'> & {
    tracks: [string, Track][];
    thresholds: [string, ThresholdState][];
  };
  return { ...d, tracks: new Map(d.tracks), thresholds: new Map(d.thresholds) };
}

export function encodeGateways(gateways: RuleState['gateways']): string {
  return JSON.stringify([...gateways]);
}

export function decodeGateways(text: string | undefined): RuleState['gateways'] {
  return new Map(JSON.parse(text ?? '[]') as [string, GatewayState][]);
}
