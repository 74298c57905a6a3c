// Serial ports with an RS-485 gateway on each: frames in, through the same ingest → journal path
// as MQTT. The port is reopened with backoff when it disappears (USB unplugged) until it is back.
// The gateway is online while its port is open and frames arrive; offline when the port closes or
// nothing valid arrived for 3 × alive_interval. Each change is published retained on
// {prefix}/gateways/{id}/status and journaled as a gateway StatusChange.
import type { SerialPortStream } from '@serialport/stream';
import type { Logger } from 'pino';
import { ms, type SerialPortConfig } from '../config/config.ts';
import type { Presence } from '../domain/reading.ts';
import type { Ingest } from '../ingest/ingest.ts';
import { FrameSplitter, openFrame, type LineNoise } from '../ingest/parsers/frame.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { backoffMs, type Backoff } from '../domain/backoff.ts';
import { topics } from '../domain/topics.ts';
import { serialPort } from './serial-port.ts';

export type FrameResult = 'ok' | 'bad_checksum' | LineNoise | 'rejected' | 'lost';
export const FRAME_RESULTS: readonly FrameResult[] = ['ok', 'bad_checksum', 'garbage', 'too_long', 'rejected', 'lost'];

/** Runs fn after delayMs; returns a cancel function. Injected so tests control time. */
export type Schedule = (fn: () => void, delayMs: number) => () => void;

export interface SerialSourceOptions {
  ports: readonly SerialPortConfig[];
  prefix: string;
  ingest: Ingest;
  publish: (topic: string, payload: string, options: { retain: boolean }) => Promise<void>;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  schedule?: Schedule;
  /** Jitter source for the reconnect backoff. */
  random?: () => number;
}

export interface GatewayState {
  gateway: string;
  path: string;
  baudRate: number;
  /** The port is open. */
  connected: boolean;
  /** 'unknown' until the port has opened and a frame arrived once. */
  status: Presence | 'unknown';
  since: number | null;
  lastFrameAt: number | null;
  frames: Record<FrameResult, number>;
  devices: Record<string, string>;
}

export interface SerialSource {
  gateways: () => GatewayState[];
  /** Closes the ports. The gateways are not marked offline: the hub stops watching, they did not fail. */
  close(): Promise<void>;
}

/** Several gateways on one hub do not retry in step. */
const RECONNECT: Backoff = { firstMs: 250, maxMs: 10_000, jitter: 0.5 };
const SILENT_INTERVALS = 3;
/** Frames waiting for the journal before the port is paused; the line then waits in the OS buffer. */
const MAX_IN_FLIGHT = 2_000;
const NOTICE_INTERVAL_MS = 60_000;

const defaultSchedule: Schedule = (fn, delayMs) => {
  const timer = setTimeout(fn, delayMs);
  return () => clearTimeout(timer);
};

class Gateway {
  private port: SerialPortStream | undefined;
  private readonly splitter: FrameSplitter;
  private readonly zones: ReadonlyMap<string, string>;
  private readonly silenceMs: number;
  private readonly log: Logger;
  private status: Presence | 'unknown' = 'unknown';
  private since: number | null = null;
  private lastFrameAt: number | null = null;
  private readonly frames = Object.fromEntries(FRAME_RESULTS.map((r) => [r, 0])) as Record<FrameResult, number>;
  /** Counts since the last noise notice in the log. */
  private noiseSinceNotice = new Map<FrameResult, number>();
  private noticeAt: number | undefined;
  private lostNoticeAt: number | undefined;
  private openedAt = 0;
  private failedOpens = 0;
  private cancelReconnect: (() => void) | undefined;
  private cancelSilence: (() => void) | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private paused = false;
  private closing = false;
  private warnedForeignGateway = false;

  constructor(
    private readonly config: SerialPortConfig,
    private readonly deps: Required<SerialSourceOptions>,
  ) {
    const zones = new Map(Object.entries(config.devices));
    // The gateway's own frames and status belong to its zone, or to the one its devices share.
    const shared = new Set(zones.values());
    const zone = config.zone ?? (shared.size === 1 ? [...shared][0] : undefined);
    if (zone !== undefined && !zones.has(config.gateway)) zones.set(config.gateway, zone);
    this.zones = zones;
    this.silenceMs = SILENT_INTERVALS * ms(config.alive_interval);
    this.log = deps.log.child({ gateway: config.gateway, port: config.path });
    this.splitter = new FrameSplitter({
      onFrame: (frame) => this.onFrame(frame),
      onNoise: (noise) => this.count(noise),
    });
  }

  state(): GatewayState {
    return {
      gateway: this.config.gateway,
      path: this.config.path,
      baudRate: this.config.baud_rate,
      connected: this.port?.isOpen ?? false,
      status: this.status,
      since: this.since,
      lastFrameAt: this.lastFrameAt,
      frames: { ...this.frames },
      devices: { ...this.config.devices },
    };
  }

  open(): void {
    this.cancelReconnect = undefined;
    const port = serialPort({ path: this.config.path, baudRate: this.config.baud_rate });
    port.on('data', (chunk: Buffer) => this.splitter.push(chunk));
    port.on('error', (err) =>
      this.log.warn(
        { err: err.message },
        `gateway ${this.config.gateway}: serial port ${this.config.path} reported an error: ${err.message}`,
      ),
    );
    port.on('close', (err: Error | null) => this.onClose(port, err));
    port.open((err) => {
      if (this.closing) {
        if (!err) port.close();
        return;
      }
      if (err) {
        this.failedOpens++;
        const message = `gateway ${this.config.gateway}: cannot open serial port ${this.config.path} (${err.message.replace(/^Error: /, '')}); retrying — is the USB adapter plugged in?`;
        if (this.failedOpens === 1) this.log.warn(message);
        else this.log.debug(message);
        this.setStatus('offline', `serial port ${this.config.path} cannot be opened`);
        this.reconnectLater();
        return;
      }
      this.port = port;
      this.openedAt = this.deps.now();
      this.watchSilence();
      this.log.info(
        `gateway ${this.config.gateway}: serial port ${this.config.path} open at ${this.config.baud_rate} baud${this.failedOpens > 0 ? ` after ${this.failedOpens} failed attempts` : ''}`,
      );
      this.failedOpens = 0;
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.cancelReconnect?.();
    this.cancelSilence?.();
    const port = this.port;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    await Promise.all(this.inFlight);
  }

  /** `disconnected` says why when the port closed under the hub, not by its own close. */
  private onClose(port: SerialPortStream, disconnected: Error | null): void {
    if (this.port !== port) return;
    this.port = undefined;
    this.paused = false;
    this.cancelSilence?.();
    this.splitter.reset();
    if (this.closing) return;
    this.setStatus('offline', `serial port ${this.config.path} closed: ${disconnected?.message ?? 'unplugged?'}`);
    this.reconnectLater();
  }

  private reconnectLater(): void {
    if (this.closing) return;
    this.cancelReconnect = this.deps.schedule(
      () => this.open(),
      backoffMs(this.failedOpens, RECONNECT, this.deps.random),
    );
  }

  private onFrame(frame: string): void {
    const opened = openFrame(frame);
    if (!opened.ok) {
      this.count(opened.problem);
      return;
    }
    const receivedAt = this.deps.now();
    this.lastFrameAt = receivedAt;
    if (this.status !== 'online') this.setStatus('online', 'frames are arriving');
    if (opened.tag === 'FWG' && opened.id !== this.config.gateway && !this.warnedForeignGateway) {
      this.warnedForeignGateway = true;
      this.log.warn(
        `serial port ${this.config.path}: the gateway calls itself "${opened.id.slice(0, 64)}", but the configuration names it "${this.config.gateway}"`,
      );
    }
    const zone = this.zones.get(opened.id);
    const accepted = this.deps.ingest
      .accept({
        source: 'serial',
        kind: 'frame',
        device: opened.id,
        payload: Buffer.from(frame, 'latin1'),
        receivedAt,
        ...(zone !== undefined && { zone }),
      })
      .then(
        (outcome) => this.count(outcome.rejected > 0 ? 'rejected' : 'ok'),
        (err: unknown) => {
          // A serial line has no acknowledgement to withhold: the gateway will not send it again.
          this.count('lost');
          if (this.lostNoticeAt !== undefined && receivedAt - this.lostNoticeAt < NOTICE_INTERVAL_MS) return;
          this.lostNoticeAt = receivedAt;
          this.log.error(
            { err: (err as Error).message },
            `gateway ${this.config.gateway}: frames are being lost because the journal cannot write (${(err as Error).message}); see floorwatch_serial_frames_total{result="lost"}`,
          );
        },
      )
      .finally(() => {
        this.inFlight.delete(accepted);
        if (this.paused && this.inFlight.size < MAX_IN_FLIGHT / 2) {
          this.paused = false;
          this.port?.resume();
        }
      });
    this.inFlight.add(accepted);
    if (!this.paused && this.inFlight.size >= MAX_IN_FLIGHT) {
      this.paused = true;
      this.port?.pause();
    }
  }

  private setStatus(status: Presence, why: string): void {
    if (this.status === status) return;
    const at = this.deps.now();
    this.status = status;
    this.since = at;
    const { gateway } = this.config;
    const zone = this.zones.get(gateway);
    this.deps.metrics.gatewayOnline.set({ gateway }, status === 'online' ? 1 : 0);
    if (status === 'online') this.log.info(`gateway ${gateway} is online: ${why}`);
    else this.log.warn(`gateway ${gateway} is offline: ${why}`);
    this.deps
      .publish(topics.gatewayStatus(this.deps.prefix, gateway), status, { retain: true })
      .catch((err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        this.log.error({ err: reason }, `could not publish the status of gateway ${gateway}: ${reason}`);
      });
    this.deps.ingest
      .accept({
        source: 'serial',
        kind: 'status',
        subject: 'gateway',
        device: gateway,
        payload: Buffer.from(status),
        receivedAt: at,
        ...(zone !== undefined && { zone }),
      })
      .catch((err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        this.log.error({ err: reason }, `could not journal that gateway ${gateway} is ${status}: ${reason}`);
      });
  }

  /** While the port is open: one timer at a time, due when the line would have been quiet too long. */
  private watchSilence(): void {
    const quietSince = Math.max(this.lastFrameAt ?? 0, this.openedAt);
    const due = Math.max(quietSince + this.silenceMs - this.deps.now(), 0);
    this.cancelSilence = this.deps.schedule(() => {
      if (this.deps.now() - Math.max(this.lastFrameAt ?? 0, this.openedAt) >= this.silenceMs) {
        this.setStatus(
          'offline',
          `no frame for ${this.silenceMs / 1000} s (${SILENT_INTERVALS} × alive_interval ${this.config.alive_interval})`,
        );
      }
      // Once offline it stays so until a frame arrives; checking again a silence later is cheap.
      this.watchSilence();
    }, due || this.silenceMs);
  }

  private count(result: FrameResult): void {
    this.frames[result]++;
    this.deps.metrics.serialFrames.inc({ gateway: this.config.gateway, result });
    if (result === 'ok' || result === 'rejected' || result === 'lost') return;
    // Line noise is told once a minute in sum: a bad cable makes a lot of it.
    this.noiseSinceNotice.set(result, (this.noiseSinceNotice.get(result) ?? 0) + 1);
    const at = this.deps.now();
    if (this.noticeAt !== undefined && at - this.noticeAt < NOTICE_INTERVAL_MS) return;
    this.noticeAt = at;
    const counts = [...this.noiseSinceNotice].map(([r, n]) => `${n} ${r.replace('_', ' ')}`).join(', ');
    this.noiseSinceNotice = new Map();
    this.log.warn(
      `gateway ${this.config.gateway} on ${this.config.path}: frames skipped (${counts}); if this keeps up, check the RS-485 wiring, termination and baud rate`,
    );
  }
}

/** Opens every configured port; a port that is missing now is retried until it appears. */
export function startSerialSource(options: SerialSourceOptions): SerialSource {
  const deps: Required<SerialSourceOptions> = { schedule: defaultSchedule, random: Math.random, ...options };
  const gateways = options.ports.map((port) => new Gateway(port, deps));
  for (const gateway of gateways) gateway.open();
  return {
    gateways: () => gateways.map((g) => g.state()),
    close: async () => {
      await Promise.all(gateways.map((g) => g.close()));
    },
  };
}
