// Where readings come in and what keeps track of them: ingest (validation, duplicates, the device
// cap) in front of the journal, the device registry and the live feed behind it.
import { join } from 'node:path';
import { ms, type Config } from '../config/config.ts';
import { DeviceRegistry, type DeclaredDevice, type ForgetOutcome } from '../devices/registry.ts';
import { LiveFeed } from '../feed/live-feed.ts';
import { Calibration, type FileOffsets } from '../ingest/calibration.ts';
import { Ingest, type IngestDeps } from '../ingest/ingest.ts';
import { KnownDevices } from '../ingest/known-devices.ts';
import { RejectionLog } from '../ingest/rejections.ts';
import type { Journal } from '../journal/journal.ts';
import type { Entry } from '../domain/reading.ts';
import type { HubContext } from './context.ts';
import { counted } from '../domain/counted.ts';

export interface Intake {
  ingest: Ingest;
  calibration: Calibration;
  rejections: RejectionLog;
  registry: DeviceRegistry;
  feed: LiveFeed;
  /** What the device list and the device bound take from durable entries (in a cluster, every hub's). */
  known: (entries: readonly Entry[]) => void;
  /**
   * Journals an operator's word that a device no one declared is gone (see ForgetOutcome). One
   * still online is forgotten only with `force`: it would be taken on again at its next message.
   */
  forget: (device: string, by: string, force?: boolean) => Promise<ForgetOutcome>;
}

/** How many recent journal entries seed the duplicate filter at start. */
const DUPLICATE_MEMORY_ENTRIES = 100_000;

/** Forgets a device no one declared by journaling so (Intake.forget), so every consumer drops it in order. */
export function forgetting(deps: {
  knownDevices: KnownDevices;
  registry: DeviceRegistry;
  append: (entries: Entry[]) => Promise<unknown>;
  now: () => number;
}): Intake['forget'] {
  const { knownDevices, registry, append, now } = deps;
  return async (device, by, force = false) => {
    if (knownDevices.isConfigured(device)) return 'configured';
    const listed = registry.get(device, now());
    if (!knownDevices.knows(device) && listed === undefined) return 'unknown';
    if (listed?.online === true && !force) return 'online';
    await append([{ type: 'forgotten', forgotten: { device, by, at: now() } }]);
    return 'forgotten';
  };
}

/** What ingest takes from the configuration: its limits, and the zone of each declared device. */
export function ingestSettings(config: Config): Pick<IngestDeps, 'settings' | 'declaredZones'> {
  return {
    settings: {
      maxClockSkewMs: ms(config.ingest.max_clock_skew),
      maxReplayAgeMs: ms(config.ingest.max_replay_age),
      maxPayloadBytes: config.ingest.max_payload_bytes,
      maxMetricsPerDevice: config.ingest.max_metrics_per_device,
      maxComponentsPerDevice: config.ingest.max_components_per_device,
      acceptUndeclaredDevices: config.ingest.accept_undeclared_devices,
    },
    declaredZones: new Map(config.devices.map((d) => [d.id, d.zone])),
  };
}

/** The calibration offsets the configuration file gives its devices. */
function fileOffsets(config: Config): FileOffsets {
  return new Map(
    config.devices.flatMap((d) => (d.calibration ? [[d.id, new Map(Object.entries(d.calibration))] as const] : [])),
  );
}

/** The devices the configuration declares, as the device list shows them. */
function declaredDevices(config: Config): DeclaredDevice[] {
  return config.devices.map((d) => ({
    id: d.id,
    kind: d.kind,
    zone: d.zone,
    ...(d.position !== undefined && { position: d.position }),
    heartbeatIntervalMs: ms(d.heartbeat_interval),
  }));
}

/** Devices and gateways the configuration names. */
function configuredDevices(config: Config): string[] {
  return [...config.devices.map((d) => d.id), ...config.serial.flatMap((p) => [p.gateway, ...Object.keys(p.devices)])];
}

export async function openIntake(ctx: HubContext, journal: Journal): Promise<Intake> {
  const { config, log, metrics, now, lifecycle } = ctx;
  const registry = new DeviceRegistry(declaredDevices(config), join(config.data_dir, 'devices.json'), now());
  if (registry.snapshotProblem)
    log.warn(
      `the device list kept in ${join(config.data_dir, 'devices.json')} ${registry.snapshotProblem}: devices not heard from since are listed again as they report`,
    );
  const feed = new LiveFeed();
  const knownDevices = new KnownDevices({ max: config.limits.max_devices, configured: configuredDevices(config) });
  for (const id of registry.ids()) knownDevices.add(id);

  const rejections = new RejectionLog({
    capacity: config.ingest.rejections_kept,
    now,
    onReject: (r) => metrics.rejections.inc({ reason: r.reason }),
    log: (r, suppressed) =>
      log.warn(
        { device: r.device, topic: r.topic, reason: r.reason, source: r.source },
        `refused input from ${r.device ?? r.source}: ${r.detail}${suppressed > 0 ? ` (${suppressed} more refused in the last minute)` : ''}`,
      ),
  });
  const calibration = new Calibration(config.data_dir, fileOffsets(config));
  if (calibration.unreadable.length > 0)
    log.warn(
      { devices: calibration.unreadable.slice(0, 20) },
      `${join(config.data_dir, 'calibration.json')}: the operator offsets of ${calibration.unreadable.length} device(s) are not readable and are left out (${calibration.unreadable.slice(0, 5).join(', ')}); set them again with "floorwatch calibrate"`,
    );
  const ingest = new Ingest({
    ...ingestSettings(config),
    knownDevices,
    calibration,
    append: (entries) => journal.append(entries),
    rejections,
    metrics,
    onClockSkew: (device, deviceTs, receivedAt) =>
      log.warn(
        { device },
        `clock of device ${device} is off by ${Math.round((deviceTs - receivedAt) / 1000)} s; its readings are stored at the hub's receive time`,
      ),
  });
  // The names each device used before this start count against its bounds: the device list keeps
  // every metric and the last heartbeat's components, the journal's recent entries the rest.
  for (const used of registry.namesUsed()) ingest.rememberNames(used.id, used);
  const lastLsn = journal.status().lastLsn;
  for await (const record of journal.readAll(Math.max(1, lastLsn - DUPLICATE_MEMORY_ENTRIES + 1))) {
    ingest.remember(record.entry);
    knownDevices.remember(record.entry);
  }
  if (knownDevices.size > config.limits.max_devices) {
    log.warn(
      { known: knownDevices.size, max: config.limits.max_devices },
      `the hub already knows ${knownDevices.size} devices, more than limits.max_devices (${config.limits.max_devices}): they stay known, and no new device is taken on`,
    );
  }

  const known = (entries: readonly Entry[]): void => {
    registry.apply(entries);
    for (const entry of entries) {
      if (entry.type !== 'forgotten') continue;
      ingest.forget(entry.forgotten.device);
      knownDevices.forget(entry.forgotten.device);
    }
  };
  const forget = forgetting({ knownDevices, registry, append: (entries) => journal.append(entries), now });
  const consumers = [
    journal.consume('devices', async (entries) => {
      known(entries);
      await registry.save(now());
    }),
    journal.consume('live', (entries) => feed.publish(entries), { from: 'end', durable: false }),
  ];
  lifecycle.add({
    name: 'devices',
    stop: async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      try {
        await registry.save(now(), true);
      } catch (err) {
        log.error(
          { err: (err as Error).message },
          `could not save the device list (${(err as Error).message}); it is rebuilt from new messages`,
        );
      }
    },
    health: () => {
      const devices = knownDevices.status();
      return {
        condition: devices.refused === 0 ? 'ok' : 'degraded',
        check: {
          ok: devices.refused === 0,
          detail:
            devices.refused === 0
              ? `${counted(devices.known, 'device')} known; limits.max_devices is ${devices.max}`
              : `${counted(devices.known, 'device')} known, the most limits.max_devices allows (${devices.max}): ${counted(devices.refused, 'message')} from further devices refused`,
          ...devices,
        },
      };
    },
    refreshGauges: () => metrics.knownDevices.set(knownDevices.size),
    reconfigure: (next) => {
      const settings = ingestSettings(next);
      const declared = declaredDevices(next);
      const configured = configuredDevices(next);
      const offsets = fileOffsets(next);
      return () => {
        ingest.reconfigure(settings);
        calibration.declare(offsets);
        knownDevices.declare(configured, next.limits.max_devices);
        registry.declare(declared);
      };
    },
  });
  return { ingest, calibration, rejections, registry, feed, known, forget };
}
