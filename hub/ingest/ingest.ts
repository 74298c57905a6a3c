// Ingest: one message from any source → parsed → checked against the contract → journaled.
// Resolves only when what it accepted is durable in the journal; refused input is recorded in
// the rejection log and never stops the rest of the message or the other devices.
import {
  METRICS,
  METRIC_PATTERN,
  idProblem,
  readingProblem,
  unitText,
  type Entry,
  type Reading,
} from '../domain/reading.ts';
import type { Metrics, Tally } from '../telemetry/metrics.ts';
import { derivedReadings } from './derive.ts';
import { componentsWithin, DeviceNames } from './device-names.ts';
import { DuplicateFilter, type ReadingKey } from './duplicates.ts';
import type { Calibration } from './calibration.ts';
import type { KnownDevices } from './known-devices.ts';
import { shownVersion } from './parsers/heartbeat.ts';
import { parsePayload, type MessageKind, type ParsedValue } from './parsers/index.ts';
import { Rejection } from './rejection.ts';
import { excerptOf, NAME_CHARS, type RejectionLog } from './rejections.ts';
import { clip } from '../domain/clip.ts';
import { toCanonical } from './units.ts';

export type Source = 'mqtt' | 'http' | 'serial' | 'bridge';

export interface IncomingMessage {
  source: Source;
  kind: MessageKind;
  /** The device the transport says sent it (topic level, serial frame, HTTP Basic login); absent for other HTTP SenML, whose names carry it. */
  device?: string;
  topic?: string;
  payload: Buffer;
  receivedAt: number;
  /** Zone for devices not declared in config (serial gateways map their sensors to zones). */
  zone?: string;
  /** 'gateway' for a serial gateway's own presence. */
  subject?: 'device' | 'gateway';
  /** For a sender that may write for some devices only (an ingest token): why not for this one. */
  refuseDevice?: (device: string) => string | undefined;
  /** The bridge it came in through, by name; its entries carry it. */
  bridge?: string;
}

export interface IngestOutcome {
  accepted: number;
  rejected: number;
  duplicates: number;
  /** What was refused and why, the first MAX_PROBLEMS_TOLD of them (also kept in the rejection log). */
  problems: Array<{ reason: string; detail: string; device?: string }>;
}

export interface IngestSettings {
  maxClockSkewMs: number;
  maxReplayAgeMs: number;
  maxPayloadBytes: number;
  maxMetricsPerDevice: number;
  maxComponentsPerDevice: number;
  acceptUndeclaredDevices: boolean;
}

export interface IngestDeps {
  settings: IngestSettings;
  /** Zone of each declared device. */
  declaredZones: ReadonlyMap<string, string | undefined>;
  /** The devices taken on, bounded by limits.max_devices; every per-device structure grows only with these. */
  knownDevices: KnownDevices;
  append: (entries: Entry[]) => Promise<unknown>;
  rejections: RejectionLog;
  metrics: Metrics;
  /** Offsets added to what sensors report; none without it. */
  calibration?: Pick<Calibration, 'offset'>;
  /** Told once per device per minute that its clock is off. */
  onClockSkew?: (device: string, deviceTs: number, receivedAt: number) => void;
}

const CLOCK_NOTICE_MS = 60_000;
/** Refusals one answer lists: a message refused value by value is answered with the first, and counted whole. */
export const MAX_PROBLEMS_TOLD = 100;

export class Ingest {
  private readonly duplicates = new DuplicateFilter();
  private readonly metricNames = new DeviceNames(() => this.deps.settings.maxMetricsPerDevice);
  private readonly componentNames = new DeviceNames(() => this.deps.settings.maxComponentsPerDevice);
  private readonly clockNoticeAt = new Map<string, number>();
  /**
   * The time given to a device's last message whose readings came without one (or with a clock
   * that was off), and which message that was. The stores keep one value per device, metric and
   * time, so two such messages within a millisecond must not be given the same time: the second
   * would overwrite the first. One entry per device that ingest admitted, so within max_devices.
   */
  private readonly givenTimes = new Map<string, { message: number; at: number }>();
  private messages = 0;
  /** The received-messages count of each source and kind, looked up once rather than per message. */
  private readonly receivedCounters = new Map<Source, Map<MessageKind, Tally>>();
  private readonly accepted: Tally;

  constructor(private readonly deps: IngestDeps) {
    this.accepted = deps.metrics.readingsAccepted.tally();
  }

  /** A reloaded configuration's checks, and its declared devices and their zones. */
  reconfigure(next: Pick<IngestDeps, 'settings' | 'declaredZones'>): void {
    this.deps.settings = next.settings;
    this.deps.declaredZones = next.declaredZones;
  }

  /** Feeds an entry the journal still holds into the duplicate filter, so a restart does not forget. */
  remember(entry: Entry): void {
    if (entry.type === 'forgotten') {
      this.forget(entry.forgotten.device);
      return;
    }
    // An entry that is not what this release writes (an older format, a bug) is no reason not to start.
    if (entry.type === 'heartbeat') {
      this.componentNames.rememberComponents(entry.heartbeat);
      return;
    }
    if (entry.type !== 'readings' || !Array.isArray(entry.readings)) return;
    for (const r of entry.readings) {
      if (readingProblem(r) !== undefined) continue;
      // Whether r.ts came from the device is not recorded, so remember it both ways.
      this.duplicates.add(r.device, { metric: r.metric, ts: r.ts });
      if (r.seq !== undefined) this.duplicates.add(r.device, { metric: r.metric, seq: r.seq });
      this.metricNames.remember(r.device, r.metric);
    }
  }

  /** What the device list kept of a device before this start: the metrics and components it used count. */
  rememberNames(device: string, names: { metrics: readonly string[]; components: readonly string[] }): void {
    for (const metric of names.metrics) this.metricNames.remember(device, metric);
    for (const component of names.components) this.componentNames.remember(device, component);
  }

  /** Drops what ingest keeps of a device an operator said is gone, so a newcomer may take its place. */
  forget(device: string): void {
    this.duplicates.forget(device);
    this.metricNames.forget(device);
    this.componentNames.forget(device);
    this.clockNoticeAt.delete(device);
    this.givenTimes.delete(device);
  }

  /**
   * Accepts what is valid in one message. Resolves once it is in the journal; rejects only when
   * the journal could not write it (the caller must then not acknowledge the message).
   */
  async accept(message: IncomingMessage): Promise<IngestOutcome> {
    this.messages++;
    this.received(message.source, message.kind).inc();
    const outcome: IngestOutcome = { accepted: 0, rejected: 0, duplicates: 0, problems: [] };
    let entries: Entry[];
    const fresh: Array<[device: string, key: ReadingKey]> = [];
    try {
      entries = this.toEntries(message, outcome, fresh);
    } catch (err) {
      if (!(err instanceof Rejection)) throw err;
      this.reject(message, outcome, err, message.device);
      return outcome;
    }
    if (entries.length === 0) return outcome;
    // Marked with the bridge it came through: no bridge sends it out again.
    if (message.bridge !== undefined) for (const entry of entries) entry.bridge = message.bridge;
    await this.deps.append(entries);
    for (const [device, key] of fresh) this.duplicates.add(device, key);
    this.accepted.inc(outcome.accepted);
    return outcome;
  }

  private reject(
    message: IncomingMessage,
    outcome: IngestOutcome,
    rejection: Rejection,
    device: string | undefined,
  ): void {
    outcome.rejected++;
    // A device named in SenML is not checked yet, and a pack may be refused record by record.
    const named = device === undefined ? {} : { device: clip(device, NAME_CHARS) };
    if (outcome.problems.length < MAX_PROBLEMS_TOLD)
      outcome.problems.push({ reason: rejection.reason, detail: rejection.detail, ...named });
    this.deps.rejections.add({
      at: message.receivedAt,
      source: message.source,
      reason: rejection.reason,
      detail: rejection.detail,
      excerpt: excerptOf(message.payload),
      ...named,
      ...(message.topic !== undefined && { topic: message.topic }),
    });
  }

  private toEntries(
    message: IncomingMessage,
    outcome: IngestOutcome,
    fresh: Array<[device: string, key: ReadingKey]>,
  ): Entry[] {
    const { settings } = this.deps;
    if (message.payload.length > settings.maxPayloadBytes) {
      throw new Rejection(
        'payload_too_large',
        `payload is ${message.payload.length} bytes; the limit is ${settings.maxPayloadBytes} (ingest.max_payload_bytes)`,
      );
    }
    if (message.device !== undefined) this.checkDevice(message.device);
    const parsed = parsePayload(message.kind, message.payload, message.receivedAt);
    const device = message.device;

    if (parsed.kind === 'status') {
      if (device === undefined) throw new Rejection('invalid_payload', 'status needs a device');
      return [
        {
          type: 'status',
          status: {
            subject: message.subject ?? 'device',
            id: device,
            zone: this.zoneOf(device, message),
            status: parsed.status,
            ts: message.receivedAt,
          },
        },
      ];
    }
    if (parsed.kind === 'heartbeat') {
      if (device === undefined) throw new Rejection('invalid_payload', 'heartbeat needs a device');
      const { ts: deviceTs, components, fw, ...heartbeat } = parsed.heartbeat;
      const ts = this.eventTime(device, deviceTs, message.receivedAt);
      const { kept, refusal } = componentsWithin(this.componentNames, device, components);
      if (refusal) this.reject(message, outcome, refusal, device);
      const { fw: shown, refusal: hidden } = shownVersion(fw);
      if (hidden) this.reject(message, outcome, hidden, device);
      const zone = this.zoneOf(device, message);
      const version = shown === undefined ? {} : { fw: shown };
      return [{ type: 'heartbeat', heartbeat: { ...heartbeat, ...version, components: kept, device, zone, ts } }];
    }

    const readings: Reading[] = [];
    // Repeats within one message; only a message of several readings can hold any.
    const inMessage = parsed.values.length > 1 ? new Set<string>() : undefined;
    for (const value of parsed.values) {
      const owner = value.device ?? device;
      try {
        const reading = this.toReading(value, owner, message);
        const key: ReadingKey = { metric: reading.metric, seq: reading.seq, ts: value.ts };
        if (DuplicateFilter.recognisable(key)) {
          const messageKey = inMessage && `${reading.device}\u0000${key.metric}\u0000${key.ts ?? `s${key.seq}`}`;
          if (this.duplicates.has(reading.device, key) || (messageKey !== undefined && inMessage?.has(messageKey))) {
            outcome.duplicates++;
            continue;
          }
          if (messageKey !== undefined) inMessage?.add(messageKey);
          fresh.push([reading.device, key]);
        }
        readings.push(reading);
      } catch (err) {
        if (!(err instanceof Rejection)) throw err;
        this.reject(message, outcome, err, device ?? owner);
      }
    }
    if (outcome.duplicates > 0) this.deps.metrics.duplicates.inc(outcome.duplicates);
    outcome.accepted = readings.length;
    for (const derived of derivedReadings(readings)) if (readingProblem(derived) === undefined) readings.push(derived);
    return readings.length > 0 ? [{ type: 'readings', readings }] : [];
  }

  private received(source: Source, kind: MessageKind): Tally {
    let bySource = this.receivedCounters.get(source);
    if (!bySource) {
      bySource = new Map();
      this.receivedCounters.set(source, bySource);
    }
    let counter = bySource.get(kind);
    if (!counter) {
      counter = this.deps.metrics.messagesIn.tally({ source, kind });
      bySource.set(kind, counter);
    }
    return counter;
  }

  private checkDevice(device: string): void {
    const problem = idProblem(device);
    if (problem) throw new Rejection('invalid_id', `device id ${JSON.stringify(device.slice(0, 80))} ${problem}`);
    if (!this.deps.settings.acceptUndeclaredDevices && !this.deps.declaredZones.has(device)) {
      throw new Rejection(
        'undeclared_device',
        `device "${device}" is not declared under devices, and ingest.accept_undeclared_devices is false`,
      );
    }
    this.deps.knownDevices.admit(device);
  }

  private zoneOf(device: string, message: IncomingMessage): string {
    return this.deps.declaredZones.get(device) ?? message.zone ?? '';
  }

  private toReading(value: ParsedValue, device: string | undefined, message: IncomingMessage): Reading {
    if (device === undefined)
      throw new Rejection(
        'invalid_senml',
        `reading "${value.metric}" names no device (use a SenML name such as "t-17/${value.metric}")`,
      );
    if (message.device !== undefined && value.device !== undefined && value.device !== message.device) {
      throw new Rejection(
        'device_mismatch',
        `SenML names device "${value.device.slice(0, 80)}" but the message came from device "${message.device}"`,
      );
    }
    const refusal = message.refuseDevice?.(device);
    if (refusal !== undefined) throw new Rejection('device_mismatch', refusal);
    if (value.device !== undefined) this.checkDevice(value.device);
    const { metric } = value;
    const known = this.metricNames.of(device);
    // A metric the device reported before has passed this check already.
    if (!known.has(metric) && !METRIC_PATTERN.test(metric)) {
      throw new Rejection(
        'invalid_metric',
        `metric name ${JSON.stringify(metric.slice(0, 80))} must be 1-64 letters, digits or "_", starting with a letter, and not ts or seq`,
      );
    }
    if (typeof value.value !== 'number' || !Number.isFinite(value.value)) {
      throw new Rejection(
        'invalid_value',
        `${metric} must be a finite number, found ${value.value === undefined ? 'nothing' : JSON.stringify(value.value).slice(0, 80)}`,
      );
    }
    const converted = toCanonical(metric, value.value, value.unit);
    if (!converted.ok) {
      throw new Rejection(
        'invalid_unit',
        `${metric} in "${value.unit?.slice(0, 80)}" is not accepted (accepted: ${converted.accepted.join(', ')})`,
      );
    }
    if (!Number.isFinite(converted.value)) {
      throw new Rejection(
        'invalid_value',
        `${metric} ${value.value} ${value.unit ?? ''} is not a finite number once converted`,
      );
    }
    const spec = METRICS.get(metric);
    if (spec && (converted.value < spec.min || converted.value > spec.max)) {
      throw new Rejection(
        'out_of_range',
        `${metric} ${converted.value} ${unitText(spec.unit)} is outside what a sensor can measure (${spec.min} to ${spec.max}): sensor fault`,
      );
    }
    if (!known.has(metric) && !this.metricNames.admit(device, metric)) {
      throw new Rejection(
        'too_many_metrics',
        `device "${device}" already reports ${known.size} metrics; "${metric.slice(0, 80)}" would exceed ingest.max_metrics_per_device`,
      );
    }
    // A sensor fault is judged on what the sensor said; the offset corrects it after.
    const offset = this.deps.calibration?.offset(device, metric);
    const reading: Reading = {
      device,
      metric,
      value: offset === undefined ? converted.value : converted.value + offset,
      ts: this.eventTime(device, value.ts, message.receivedAt),
      zone: this.zoneOf(device, message),
    };
    // Assigned rather than spread: this runs for every reading.
    if (offset !== undefined) reading.uncalibrated = converted.value;
    if (spec === undefined) reading.unknownMetric = true;
    if (value.seq !== undefined) reading.seq = value.seq;
    // The last word before the journal: whatever the checks above missed, only a plain reading passes.
    const problem = readingProblem(reading);
    if (problem !== undefined) throw new Rejection('invalid_value', `reading of ${metric} refused: ${problem}`);
    return reading;
  }

  /** The device's time when plausible; otherwise receive time, and the operator is told. */
  private eventTime(device: string, deviceTs: number | undefined, receivedAt: number): number {
    if (deviceTs === undefined) return this.givenTime(device, receivedAt);
    const { maxClockSkewMs, maxReplayAgeMs } = this.deps.settings;
    if (deviceTs <= receivedAt + maxClockSkewMs && deviceTs >= receivedAt - maxReplayAgeMs) return deviceTs;
    this.deps.metrics.clockCorrections.inc();
    const last = this.clockNoticeAt.get(device);
    if (last === undefined || receivedAt - last >= CLOCK_NOTICE_MS) {
      this.clockNoticeAt.set(device, receivedAt);
      this.deps.onClockSkew?.(device, deviceTs, receivedAt);
    }
    return this.givenTime(device, receivedAt);
  }

  /** The receive time, one per message, later than the time given to the device's message before. */
  private givenTime(device: string, receivedAt: number): number {
    const given = this.givenTimes.get(device);
    if (!given) {
      this.givenTimes.set(device, { message: this.messages, at: receivedAt });
      return receivedAt;
    }
    if (given.message !== this.messages) {
      given.message = this.messages;
      given.at = Math.max(receivedAt, given.at + 1);
    }
    return given.at;
  }
}
