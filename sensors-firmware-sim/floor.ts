// A simulated floor: the fleet's zones as environments, one firmware per sensor and device, one
// serial gateway per fleet gateway on its pty pair, and the scenario timeline, all on one
// SimClock. Sensors sample their zone at their interval; every device heartbeats at its own;
// scenarios change what they report.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ComponentHealth, HealthStatus } from '../hub/domain/reading.ts';
import type { SimClock } from './clock.ts';
import { ZoneEnvironment } from './environment.ts';
import { Firmware, type FirmwareStats, type Radio } from './firmware.ts';
import type { DeviceSpec, Fleet, GatewaySpec, SensorSpec } from './fleet.ts';
import type { SensorMetric } from './fleet-values.ts';
import type { TelemetryRecord } from './offline-buffer.ts';
import { startPtyPair, type PtyPair } from './pty.ts';
import { hashFraction, seededRandom, type Random } from './random.ts';
import { Timeline } from './scenarios.ts';
import { sense } from './sensor.ts';
import { startSerialGateway, type SerialGateway } from './serial-gateway.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** What `out_of_range` sends when the fleet gives no value: beyond what any such sensor can measure. */
export const OUT_OF_RANGE: Record<SensorMetric, number> = {
  temperature: 900,
  humidity: 140,
  co2: 65_000,
  fresh_air: 20_000,
  air_speed: 80,
  noise: 200,
  noise_peak: 250,
};

/** What `broken_payloads` sends, in turn, and the reason the hub gives for refusing each. */
export const BROKEN_PAYLOADS: ReadonlyArray<{ payload: string; reason: string }> = [
  { payload: '{"ts":17644608', reason: 'invalid_json' },
  { payload: '{"temperature":"warm"}', reason: 'invalid_value' },
  { payload: '[{"n":"co2","u":"ppm"}]', reason: 'invalid_senml' },
  { payload: '{"ts":"yesterday","co2":612}', reason: 'invalid_timestamp' },
  { payload: '{"Temp erature":21.5}', reason: 'invalid_metric' },
  { payload: '{}', reason: 'invalid_payload' },
];

export interface FloorOptions {
  fleet: Fleet;
  clock: SimClock;
  /** Overrides the fleet's broker URL. */
  url?: string;
  /** Connection news, in words for the operator. */
  log?: (line: string) => void;
  /** Every reading a sensor takes, as its firmware recorded it. */
  onReading?: (device: string, record: TelemetryRecord) => void;
  /** Each gateway's pty pair (startGatewayLines); the Floor writes to simPath, the hub reads hubPath. */
  lines?: ReadonlyMap<string, PtyPair>;
  /**
   * Awaited before simulated time moves on: once a gateway has started ('plugged'), before it is
   * unplugged ('unplugging', with the frames it has written so far), once unplugged, and once
   * plugged back in. The hub opens ports and judges gateways on its own clock: on a stepped clock
   * minutes would otherwise pass in milliseconds of the hub's, and an unplug would cut off frames
   * still on their way.
   */
  gatewayHold?: (gateway: string, moment: GatewayMoment, framesWritten: number) => Promise<void>;
  /**
   * Awaited once a device's connection has died (a dropout) before simulated time moves on: the
   * broker notices a dead socket in its own time, for which stepped minutes are milliseconds.
   */
  dropoutHold?: (device: string) => Promise<void>;
}

export type GatewayMoment = 'plugged' | 'unplugging' | 'unplugged';

/** One pty pair per gateway of the fleet, to give to hubDeclarations and to the Floor; dispose them after the Floor stops. */
export async function startGatewayLines(fleet: Fleet): Promise<Map<string, PtyPair>> {
  const lines = new Map<string, PtyPair>();
  try {
    for (const gateway of fleet.gateways) lines.set(gateway.id, await startPtyPair());
  } catch (err) {
    await Promise.all([...lines.values()].map((line) => line.dispose()));
    throw err;
  }
  return lines;
}

interface Loop {
  cancel: () => void;
}

export class Floor {
  readonly timeline: Timeline;
  readonly environments = new Map<string, ZoneEnvironment>();
  readonly firmware = new Map<string, Firmware>();
  readonly gateways = new Map<string, SerialGateway>();
  /** Starting the gateways, each unplug and replug, each dropout's hold, in turn: simulated time waits for it. */
  private held: Promise<void> = Promise.resolve();
  private readonly randoms = new Map<string, Random>();
  private readonly loops: Loop[] = [];
  /** Last value of each (sensor, metric), which a stuck sensor keeps repeating. */
  private readonly lastValue = new Map<string, number>();
  private readonly frozen = new Map<string, number>();
  private readonly silent = new Set<string>();
  private brokenNext = 0;
  private stopped = false;

  constructor(private readonly options: FloorOptions) {
    const { fleet, clock } = options;
    const start = clock.now();
    this.timeline = new Timeline(fleet.scenarios, start);
    for (const zone of fleet.zones)
      this.environments.set(zone.id, new ZoneEnvironment(zone, fleet.site, this.timeline, start));
    for (const gateway of fleet.gateways)
      if (!options.lines?.has(gateway.id))
        throw new Error(`gateway ${gateway.id} has no serial line: pass startGatewayLines(fleet) as lines`);
    const url = options.url ?? fleet.mqtt.url;
    const all: Array<(SensorSpec & { kind: 'sensor' }) | DeviceSpec> = [
      ...fleet.sensors.map((s) => ({ ...s, kind: 'sensor' as const })),
      ...fleet.devices,
    ];
    for (const device of all) {
      const random = seededRandom(Math.floor(hashFraction(device.id, fleet.site.seed) * 2 ** 32));
      this.randoms.set(device.id, random);
      const bufferDir = 'buffer' in device ? device.buffer.dir : undefined;
      if (bufferDir) mkdirSync(bufferDir, { recursive: true });
      const username = device.username ?? fleet.mqtt.username;
      const password = device.password ?? fleet.mqtt.password;
      this.firmware.set(
        device.id,
        new Firmware({
          id: device.id,
          kind: device.kind,
          url,
          clock,
          random,
          prefix: fleet.mqtt.topic_prefix,
          clockSkewMs: device.clock_skew,
          fw: device.fw,
          reconnect: { firstMs: fleet.mqtt.reconnect_first, maxMs: fleet.mqtt.reconnect_max },
          ...(username !== undefined && { username }),
          ...(password !== undefined && { password }),
          ...('format' in device && { format: device.format }),
          ...('buffer' in device && {
            buffer: { max: device.buffer.max, ...(bufferDir && { file: join(bufferDir, `${device.id}.jsonl`) }) },
          }),
          ...(options.log && { log: options.log }),
        }),
      );
    }
  }

  /** Connects every device and starts their sampling and heartbeats. */
  start(): void {
    const { fleet, clock } = this.options;
    const start = clock.now();
    for (const fw of this.firmware.values()) fw.start();
    for (const sensor of fleet.sensors) {
      // A phase within the interval, so sensors do not all report at the same instant.
      this.every(start + hashFraction(sensor.id, 1) * sensor.interval, sensor.interval, (t) => this.sample(sensor, t));
      this.every(start + hashFraction(sensor.id, 2) * sensor.heartbeat_interval, sensor.heartbeat_interval, (t) => {
        if (!this.timeline.active('stops_reporting', sensor.id, t))
          this.firmware.get(sensor.id)?.heartbeat('ok', {}, this.radio(sensor.id, 'sensor', t));
      });
    }
    for (const device of fleet.devices) {
      this.every(start + hashFraction(device.id, 2) * device.heartbeat_interval, device.heartbeat_interval, (t) =>
        this.beat(device, t),
      );
    }
    this.held = Promise.all(fleet.gateways.map((g) => this.startGateway(g))).then(() => undefined);
    for (const scenario of fleet.scenarios) {
      if (scenario.type !== 'gateway_unplugged') continue;
      const { from, to } = this.timeline.window(scenario);
      this.loops.push({ cancel: clock.at(from, () => this.plug(scenario.gateway, false)) });
      this.loops.push({ cancel: clock.at(to, () => this.plug(scenario.gateway, true)) });
    }
  }

  private async startGateway(spec: GatewaySpec): Promise<void> {
    const { fleet, clock } = this.options;
    const line = this.options.lines?.get(spec.id);
    if (!line) return;
    const random = seededRandom(Math.floor(hashFraction(spec.id, fleet.site.seed) * 2 ** 32));
    const sensors = spec.sensors.map(({ device, metric, zone }) => {
      const env = this.environments.get(zone ?? spec.zone);
      return { device, metric, ...(env && { read: (now: number) => sense(metric, env.at(now), random) }) };
    });
    const gateway = await startSerialGateway({
      path: line.simPath,
      gateway: spec.id,
      sensors,
      clock,
      random: () => random.next(),
      intervalMs: spec.interval,
      aliveIntervalMs: spec.alive_interval,
    });
    if (this.stopped) return gateway.stop();
    this.gateways.set(spec.id, gateway);
    // Plugged in from the start: the hub's side of the line has to be open before frames count.
    await this.hold(spec.id, 'plugged');
  }

  /** Pulls the gateway's cable (its port closes and the pty pair disappears, as a USB adapter does) or puts it back. */
  private plug(id: string, plugged: boolean): void {
    this.held = this.held.then(async () => {
      const gateway = this.gateways.get(id);
      const line = this.options.lines?.get(id);
      if (!gateway || !line || this.stopped) return;
      if (plugged) {
        await line.start();
        await gateway.replug();
        await this.hold(id, 'plugged');
      } else {
        await gateway.flushed();
        await this.hold(id, 'unplugging');
        await gateway.unplug();
        await line.stop();
        await this.hold(id, 'unplugged');
      }
      this.options.log?.(`gateway ${id} ${plugged ? 'plugged back in' : 'unplugged'}`);
    });
  }

  private async hold(id: string, moment: GatewayMoment): Promise<void> {
    const stats = this.gateways.get(id)?.stats();
    if (stats) await this.options.gatewayHold?.(id, moment, stats.intact + stats.corrupted);
  }

  private every(first: number, interval: number, fn: (t: number) => void): void {
    const { clock } = this.options;
    const loop: Loop = { cancel: () => undefined };
    const tick = (t: number) => {
      if (this.stopped) return;
      fn(t);
      loop.cancel = clock.at(t + interval, () => tick(t + interval));
    };
    loop.cancel = clock.at(first, () => tick(first));
    this.loops.push(loop);
  }

  private sample(sensor: SensorSpec, t: number): void {
    const fw = this.firmware.get(sensor.id);
    const env = this.environments.get(sensor.zone);
    const random = this.randoms.get(sensor.id);
    if (!fw || !env || !random) return;
    const { timeline } = this;

    const dropout = timeline.active('dropout', sensor.id, t);
    if (dropout && !this.silent.has(sensor.id)) {
      this.silent.add(sensor.id);
      fw.dropConnection();
      const hold = this.options.dropoutHold;
      if (hold) this.held = this.held.then(() => hold(sensor.id));
    } else if (!dropout && this.silent.has(sensor.id)) {
      this.silent.delete(sensor.id);
      fw.restoreConnection();
    }

    // Its measuring task has hung: still connected, it sends nothing.
    if (timeline.active('stops_reporting', sensor.id, t)) return;
    const room = env.at(t);
    const values: Record<string, number> = {};
    for (const metric of sensor.metrics) {
      const key = `${sensor.id}\u0000${metric}`;
      let value = sense(metric, room, random);
      if (timeline.active('stuck_sensor', sensor.id, t, metric)) {
        // Frozen at the last value it read before it stuck.
        const held = this.frozen.get(key) ?? this.lastValue.get(key) ?? value;
        this.frozen.set(key, held);
        value = held;
      } else {
        this.frozen.delete(key);
        this.lastValue.set(key, value);
      }
      const spikes = timeline.active('spikes', sensor.id, t, metric);
      if (spikes) {
        const { from } = timeline.window(spikes);
        // The first sample at or after each spike moment (from, from + every, …).
        const k = Math.floor((t - from) / spikes.every);
        if (t - sensor.interval < from + k * spikes.every) value = spikes.value;
      }
      const outOfRange = timeline.active('out_of_range', sensor.id, t, metric);
      if (outOfRange) value = outOfRange.value ?? OUT_OF_RANGE[metric];
      values[metric] = value;
    }
    const record = fw.telemetry(values);
    this.options.onReading?.(sensor.id, record);
    if (timeline.active('broken_payloads', sensor.id, t)) {
      const broken = BROKEN_PAYLOADS[this.brokenNext++ % BROKEN_PAYLOADS.length];
      if (broken) fw.sendRaw(broken.payload);
    }
  }

  private beat(device: DeviceSpec, t: number): void {
    const fw = this.firmware.get(device.id);
    if (!fw) return;
    let status: HealthStatus = 'ok';
    const components: Record<string, ComponentHealth> = {};
    const wave =
      device.kind === 'headset' && device.zone !== undefined
        ? this.timeline.active('headset_faults', device.zone, t)
        : undefined;
    if (wave) {
      const seed = this.options.fleet.site.seed;
      const chosen = hashFraction(device.id, seed) < wave.fraction;
      // Each chosen headset fails at its own moment within the spread.
      const onset = this.timeline.window(wave).from + hashFraction(device.id, seed + 1) * wave.spread;
      if (chosen && t >= onset) {
        status = wave.status;
        const code = wave.codes[Math.floor(hashFraction(device.id, seed + 2) * wave.codes.length)] ?? 'noise';
        components.headset = { state: wave.status, code };
      }
    }
    fw.heartbeat(status, components, this.radio(device.id, device.kind, t));
  }

  /**
   * Headsets and sensors run on batteries over radio; phones, PCs and servers are wired and say
   * nothing of either. A headset is charged overnight and runs down through the (UTC) day (from 70-100 %
   * by 3 % an hour, never below 30 %); a sensor's cell lasts months, so its charge holds. Each keeps
   * its own signal between -75 and -50 dBm, a point either way from one heartbeat to the next. All
   * of it clear of the hub's battery and signal warnings (20 %, -85 dBm).
   */
  private radio(id: string, kind: string, t: number): Radio {
    if (kind !== 'headset' && kind !== 'sensor') return {};
    const { seed } = this.options.fleet.site;
    const charged = 70 + 30 * hashFraction(id, seed + 3);
    const hoursToday = (t % DAY_MS) / HOUR_MS;
    const battery = Math.round(kind === 'headset' ? Math.max(30, charged - 3 * hoursToday) : charged);
    const rssi = Math.round(-75 + 25 * hashFraction(id, seed + 4) + (hashFraction(`${id}@${t}`, seed) * 2 - 1));
    return { battery, rssi };
  }

  /** For a SteppedClock: waits until no device is ahead of the broker by more than its window. */
  async ready(): Promise<void> {
    await this.held;
    for (const fw of this.firmware.values()) await fw.ready();
  }

  /**
   * Waits until no reading sent so far waits for the broker's acknowledgement; a device that is
   * offline (a dropout) has none on the way. Serial frames are not acknowledged: see gatewayHold.
   */
  async acknowledged(): Promise<void> {
    await this.held;
    for (const fw of this.firmware.values()) await fw.settled();
  }

  /** Waits until every device is connected with everything delivered. */
  async delivered(): Promise<void> {
    await this.held;
    await Promise.all([...this.firmware.values()].map((fw) => fw.delivered()));
  }

  async online(): Promise<void> {
    await this.held;
    await Promise.all([...this.firmware.values()].map((fw) => fw.online()));
  }

  stats(): FirmwareStats & { devices: number; connected: number } {
    const total = {
      devices: 0,
      connected: 0,
      produced: 0,
      sent: 0,
      acked: 0,
      buffered: 0,
      bufferedPeak: 0,
      dropped: 0,
      connects: 0,
      failedConnects: 0,
    };
    for (const fw of this.firmware.values()) {
      const s = fw.stats;
      total.devices++;
      if (fw.isConnected) total.connected++;
      total.produced += s.produced;
      total.sent += s.sent;
      total.acked += s.acked;
      total.buffered += s.buffered;
      total.bufferedPeak += s.bufferedPeak;
      total.dropped += s.dropped;
      total.connects += s.connects;
      total.failedConnects += s.failedConnects;
    }
    return total;
  }

  /** Stops sampling and disconnects every device cleanly. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const loop of this.loops) loop.cancel();
    // A failed unplug or replug has already failed ready(); stopping goes on regardless.
    await this.held.catch(() => undefined);
    await Promise.all([
      ...[...this.firmware.values()].map((fw) => fw.stop()),
      ...[...this.gateways.values()].map((g) => g.stop()),
    ]);
  }
}
