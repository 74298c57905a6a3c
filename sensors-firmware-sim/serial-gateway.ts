// An RS-485 gateway with sensors behind it, writing frames to a serial port (a real one, or one
// end of a pty pair). Each round it reads every sensor and sends one $FWR per sensor; every
// alive interval it sends $FWG for itself and $FWH for each sensor device. Line noise can be
// switched on at any time: garbage between frames, corrupted checksums, frames split across
// writes; and the gateway can pause, or be unplugged and plugged back in.
import { SerialPort } from 'serialport';
import { backoffMs, type Backoff } from '../hub/domain/backoff.ts';
import { realTimeClock, type SimClock } from './clock.ts';
import { gatewayFrame, heartbeatFrame, readingFrame, type ReadingFrame } from './frame.ts';

export interface GatewaySensor {
  device: string;
  metric: string;
  /** The value the sensor reads at simulated time `now`; default a steady plausible value. */
  read?: (now: number) => number;
}

/** Share of frames (0 to 1) hit by each kind of noise. Spread evenly, so 0.01 is every 100th frame. */
export interface LineNoise {
  garbage?: number;
  corrupt?: number;
  split?: number;
}

export interface SerialGatewayOptions {
  path: string;
  gateway: string;
  sensors: readonly GatewaySensor[];
  baudRate?: number;
  /** Time between reading rounds; default 10 s. */
  intervalMs?: number;
  /** Time between $FWG (and sensor $FWH) frames; default 10 s, the hub's default alive_interval. */
  aliveIntervalMs?: number;
  noise?: LineNoise;
  clock?: SimClock;
  random?: () => number;
  /** false: nothing is sent on a timer, only through sendReadings(); default true. */
  timers?: boolean;
}

export interface GatewayStats {
  /** Frames written whole and correct. */
  intact: number;
  corrupted: number;
  split: number;
  /** Pieces of garbage written between frames. */
  garbage: number;
  /** Frames not written because the port was closed or the gateway paused. */
  dropped: number;
}

export interface SerialGateway {
  stats(): GatewayStats;
  setNoise(noise: LineNoise): void;
  /** Sends n readings at once, cycling through the sensors; resolves with those that went out intact. */
  sendReadings(n: number): Promise<Array<Required<ReadingFrame>>>;
  /** Sends $FWG for the gateway and $FWH for each sensor device now. */
  sendAlive(): Promise<void>;
  /** Stops sending (the gateway hangs) until resume(). */
  pause(): void;
  resume(): void;
  /** Resolves once every frame due so far has been written (or dropped). */
  flushed(): Promise<void>;
  /** Closes the port, as if the cable were pulled. */
  unplug(): Promise<void>;
  /** Opens the port again, waiting for the path to exist. */
  replug(): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_VALUES: Record<string, number> = {
  temperature: 23.5,
  humidity: 45,
  co2: 750,
  fresh_air: 36,
  air_speed: 0.15,
  noise: 58,
  noise_peak: 85,
  dew_point: 11,
};
/** Where the noise counters start, so that equal rates do not hit the same frames. */
const PHASE = { corrupt: 0.5, split: 0.75, garbage: 0.25 } as const;
const REOPEN: Backoff = { firstMs: 50, maxMs: 2_000 };
/** Gap between the two halves of a split frame, so they reach the hub in separate reads. */
const SPLIT_GAP_MS = 2;
const SPECIAL = new Set([0x24, 0x2a, 0x0d, 0x0a]);

/** Opens the port (retrying until the path exists) and starts the gateway's timers. */
export async function startSerialGateway(options: SerialGatewayOptions): Promise<SerialGateway> {
  const clock = options.clock ?? realTimeClock();
  const random = options.random ?? Math.random;
  const intervalMs = options.intervalMs ?? 10_000;
  const aliveIntervalMs = options.aliveIntervalMs ?? 10_000;
  const startedAt = clock.now();
  const stats: GatewayStats = { intact: 0, corrupted: 0, split: 0, garbage: 0, dropped: 0 };
  let noise: LineNoise = options.noise ?? {};
  let written = 0;
  const seqs = new Map<string, number>();
  const lastTs = new Map<string, number>();
  let port: SerialPort | undefined;
  let plugged = true;
  let stopped = false;
  let paused = false;
  const cancelTimers = new Map<string, () => void>();
  /** Frames go out one at a time, so a split frame is never interleaved with another. */
  let line = Promise.resolve();

  const open = (): Promise<void> =>
    new Promise((resolve) => {
      let retry = 0;
      const attempt = () => {
        if (stopped || !plugged) {
          resolve();
          return;
        }
        const candidate = new SerialPort({ path: options.path, baudRate: options.baudRate ?? 9600, autoOpen: false });
        candidate.on('error', () => undefined);
        candidate.on('close', () => {
          if (port !== candidate) return;
          port = undefined;
          // The far end went away (the pty pair was removed): keep trying, as firmware does.
          if (plugged && !stopped) void open();
        });
        candidate.open((err) => {
          if (err) {
            setTimeout(attempt, backoffMs(++retry, REOPEN));
            return;
          }
          port = candidate;
          resolve();
        });
      };
      attempt();
    });

  const write = (data: string | Buffer): Promise<void> =>
    new Promise((resolve) => {
      const target = port;
      if (!target?.isOpen || target.write(data)) {
        resolve();
        return;
      }
      // A port that closes meanwhile never drains.
      const done = () => {
        target.off('drain', done);
        target.off('close', done);
        resolve();
      };
      target.once('drain', done);
      target.once('close', done);
    });

  const hits = (kind: keyof typeof PHASE): boolean => {
    const rate = noise[kind] ?? 0;
    return rate > 0 && Math.floor((written + 1) * rate + PHASE[kind]) > Math.floor(written * rate + PHASE[kind]);
  };

  const garbageBytes = (): Buffer => {
    const bytes = Buffer.alloc(3 + Math.floor(random() * 14));
    for (let i = 0; i < bytes.length; i++) {
      let b = Math.floor(random() * 256);
      // No '$' or line end in garbage: each piece then stays one piece of garbage at the hub.
      while (SPECIAL.has(b)) b = Math.floor(random() * 256);
      bytes[i] = b;
    }
    return bytes;
  };

  /** A single flipped bit in the body always changes the XOR checksum. */
  const corrupted = (frame: string): string => {
    const star = frame.lastIndexOf('*');
    const at = 1 + Math.floor(random() * (star - 1));
    const code = frame.charCodeAt(at);
    const flipped = SPECIAL.has(code ^ 1) ? code ^ 2 : code ^ 1;
    return frame.slice(0, at) + String.fromCharCode(flipped) + frame.slice(at + 1);
  };

  /** Writes one frame with whatever noise is due; true when it went out intact. */
  const sendFrame = (frame: string): Promise<boolean> => {
    const sent = line.then(async () => {
      if (paused || !port?.isOpen) {
        stats.dropped++;
        return false;
      }
      const garbage = hits('garbage');
      const corrupt = hits('corrupt');
      const split = hits('split');
      written++;
      if (garbage) {
        stats.garbage++;
        await write(garbageBytes());
      }
      const text = corrupt ? corrupted(frame) : frame;
      if (split) {
        stats.split++;
        const cut = 1 + Math.floor(random() * (text.length - 2));
        await write(text.slice(0, cut));
        await new Promise((resolve) => setTimeout(resolve, SPLIT_GAP_MS));
        await write(text.slice(cut));
      } else {
        await write(text);
      }
      if (corrupt) stats.corrupted++;
      else stats.intact++;
      return !corrupt;
    });
    line = sent.then(() => undefined);
    return sent;
  };

  const readSensor = (sensor: GatewaySensor): Required<ReadingFrame> => {
    const now = clock.now();
    // One sensor never stamps two readings with the same ms: the hub keys readings on it.
    const key = `${sensor.device}\u0000${sensor.metric}`;
    const ts = Math.max(now, (lastTs.get(key) ?? 0) + 1);
    lastTs.set(key, ts);
    const seq = (seqs.get(sensor.device) ?? 0) + 1;
    seqs.set(sensor.device, seq);
    const value = sensor.read ? sensor.read(now) : (DEFAULT_VALUES[sensor.metric] ?? 0);
    return { device: sensor.device, metric: sensor.metric, value, ts, seq };
  };

  const sendReadings = async (n: number): Promise<Array<Required<ReadingFrame>>> => {
    const intact: Array<Required<ReadingFrame>> = [];
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < n; i++) {
      const sensor = options.sensors[i % options.sensors.length];
      if (!sensor) break;
      const reading = readSensor(sensor);
      sends.push(
        sendFrame(readingFrame(reading)).then((ok) => {
          if (ok) intact.push(reading);
        }),
      );
    }
    await Promise.all(sends);
    return intact;
  };

  const sendAlive = async (): Promise<void> => {
    const frames = [
      gatewayFrame({ gateway: options.gateway, uptimeS: (clock.now() - startedAt) / 1000 }),
      ...[...new Set(options.sensors.map((s) => s.device))].map((device) =>
        heartbeatFrame({ device, kind: 'sensor', status: 'ok' }),
      ),
    ];
    await Promise.all(frames.map(sendFrame));
  };

  const every = (name: string, periodMs: number, fn: () => void) => {
    const tick = (due: number) => {
      const cancel = clock.at(due, () => {
        if (stopped) return;
        fn();
        tick(due + periodMs);
      });
      cancelTimers.set(name, cancel);
    };
    tick(clock.now() + periodMs);
  };

  await open();
  if (options.timers ?? true) {
    every('readings', intervalMs, () => void sendReadings(options.sensors.length));
    every('alive', aliveIntervalMs, () => void sendAlive());
  }

  const close = async () => {
    const target = port;
    port = undefined;
    if (target?.isOpen) await new Promise<void>((resolve) => target.close(() => resolve()));
  };

  return {
    stats: () => ({ ...stats }),
    setNoise: (next) => {
      noise = next;
    },
    sendReadings,
    sendAlive,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
    flushed: () => line,
    unplug: async () => {
      plugged = false;
      await line;
      await close();
    },
    replug: async () => {
      plugged = true;
      if (!port) await open();
    },
    stop: async () => {
      stopped = true;
      for (const cancel of cancelTimers.values()) cancel();
      await line;
      await close();
    },
  };
}
