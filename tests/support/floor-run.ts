// A simulated floor against a real hub that lives on the floor's time: the hub's clock is the
// simulator's SteppedClock and its rules tick on it, and each moment of the floor waits until the
// hub has acknowledged (MQTT) or read (serial frames) and judged everything sent before it, so what
// the hub judges by the passing of time (silence, opening hours, maintenance windows, reminders)
// happens at the simulated moment it would on a real floor, and days of floor take seconds.
import type { Ticker } from '../../hub/compose/ticker.ts';
import { SteppedClock } from '../../sensors-firmware-sim/clock.ts';
import { Floor, startGatewayLines, type FloorOptions } from '../../sensors-firmware-sim/floor.ts';
import type { GatewayState } from '../../hub/sources/serial.ts';
import { parseFleet, type Fleet } from '../../sensors-firmware-sim/fleet.ts';
import { hubDeclarations } from '../../sensors-firmware-sim/hub-declarations.ts';
import type { PtyPair } from '../../sensors-firmware-sim/pty.ts';
import { eventually, startTestHub, type TestHub } from './hub.ts';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface FloorRunOptions {
  /** The fleet file's content, checked as the simulator checks it. */
  fleet: Record<string, unknown>;
  /** Simulated time the run starts at. */
  start: number;
  /** More floorwatch.yaml than the fleet's declarations; its `site` is merged with theirs. */
  hub?: Record<string, unknown>;
  /** Sensors of the fleet the hub is not told of. */
  undeclared?: readonly string[];
  /** How often the hub's rules tick, in simulated time; default every minute. */
  tickMs?: number;
  /** Holds simulated time around a gateway's plugging (FloorOptions.gatewayHold). */
  gatewayHold?: (hub: TestHub, ...args: Parameters<NonNullable<FloorOptions['gatewayHold']>>) => Promise<void>;
}

export interface FloorRun {
  hub: TestHub;
  floor: Floor;
  fleet: Fleet;
  clock: SteppedClock;
  start: number;
  /** Runs simulated time to `start + minutes` as fast as the hub takes the floor's messages. */
  advanceTo(minutes: number): Promise<void>;
  stop(): Promise<void>;
}

/** Waits until the rule engine has judged everything in the journal. */
export async function rulesCaughtUp(hub: TestHub): Promise<void> {
  type Consumers = Array<{ name: string; behindMs?: number }>;
  await eventually(
    async () =>
      ((await hub.hub.health()).checks.journal?.consumers as Consumers | undefined)?.find((c) => c.name === 'rules')
        ?.behindMs === 0,
    { what: 'the rules to judge everything journaled', intervalMs: 1 },
  );
}

/** Waits until the hub has read every frame the floor's gateways wrote: a serial line acknowledges nothing. */
async function framesRead(hub: TestHub, floor: Floor): Promise<void> {
  const written = new Map([...floor.gateways].map(([id, g]) => [id, g.stats().intact + g.stats().corrupted]));
  await eventually(
    async () =>
      (await hub.json<{ gateways: GatewayState[] }>('/api/v1/gateways')).gateways.every(
        (g) => g.frames.ok + g.frames.rejected + g.frames.bad_checksum + g.frames.lost >= (written.get(g.gateway) ?? 0),
      ),
    { what: 'the hub to read the frames the gateways wrote', intervalMs: 1 },
  );
}

export async function startFloorRun(options: FloorRunOptions): Promise<FloorRun> {
  const fleet = parseFleet(options.fleet);
  const clock = new SteppedClock(options.start);
  const lines = await startGatewayLines(fleet);
  const declared = hubDeclarations(fleet, lines);
  const undeclared = new Set(options.undeclared);
  const { site, ...more } = options.hub ?? {};
  let hub: TestHub;
  // The hub's rules tick at simulated time; simulated time moves on only once the tick is done.
  let ticking: Promise<void> = Promise.resolve();
  const tickMs = options.tickMs ?? MINUTE;
  const ticker: Ticker = (tick) => {
    let stopped = false;
    let cancel: () => void = () => undefined;
    const next = (at: number) => {
      cancel = clock.at(at, () => {
        if (stopped) return;
        ticking = ticking.then(tick);
        next(at + tickMs);
      });
    };
    next(clock.now() + tickMs);
    return async () => {
      stopped = true;
      cancel();
      await ticking;
    };
  };
  try {
    hub = await startTestHub({
      now: () => clock.now(),
      ticker,
      // Grouping waits and retries of notifications run on simulated time as well; what is due
      // now goes at once, whether or not simulated time moves on.
      timers: {
        setTimeout: (fn, ms) => {
          if (ms > 0) return clock.at(clock.now() + ms, fn);
          const now = setTimeout(fn, 0);
          return () => clearTimeout(now);
        },
        clearTimeout: (cancel) => (cancel as () => void)(),
      },
      config: {
        ...declared,
        devices: declared.devices.filter((d) => !undeclared.has(String(d.id))),
        site: { ...declared.site, ...(site as Record<string, unknown> | undefined) },
        ...more,
      },
    });
  } catch (err) {
    await disposeLines(lines);
    throw err;
  }
  const started = hub;
  // Lockstep: each moment of the floor waits until the hub has acknowledged and judged everything
  // sent before it, so the hub's now is the floor's (silences, for one, are judged at the hub's now).
  const caughtUp = async () => {
    await running.acknowledged();
    if (running.gateways.size > 0) await framesRead(started, running);
    await rulesCaughtUp(started);
    await ticking;
  };
  const gatewayHold = options.gatewayHold;
  const running = new Floor({
    fleet,
    clock,
    url: started.mqttUrl,
    lines,
    ...(gatewayHold && { gatewayHold: (...args) => gatewayHold(started, ...args) }),
    // The hub hears of a dead connection through its last will: simulated time waits for it.
    dropoutHold: async (device) => {
      await eventually(
        async () =>
          (await started.json<{ devices: Array<{ id: string }> }>('/api/v1/devices?online=false')).devices.some(
            (d) => d.id === device,
          ),
        { what: `the hub to hear that ${device} went offline` },
      );
    },
  });
  running.start();
  await running.online();
  return {
    hub: started,
    floor: running,
    fleet,
    clock,
    start: options.start,
    advanceTo: async (minutes) => {
      await clock.advanceTo(options.start + minutes * MINUTE, caughtUp);
      await caughtUp();
    },
    stop: async () => {
      await running.stop();
      await started.dispose();
      await disposeLines(lines);
    },
  };
}

async function disposeLines(lines: ReadonlyMap<string, PtyPair>): Promise<void> {
  for (const line of lines.values()) await line.dispose();
}

/** Midnight UTC starting the Monday `weeks` weeks before this one: a past week to simulate. */
export function mondayWeeksAgo(weeks: number): number {
  const today = Math.floor(Date.now() / DAY) * DAY;
  // 1970-01-01 was a Thursday: days since the last Monday.
  const sinceMonday = (Math.floor(today / DAY) + 3) % 7;
  return today - sinceMonday * DAY - weeks * 7 * DAY;
}
