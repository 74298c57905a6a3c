// How much the hub takes in, so that under a flood it stays on time rather than buffering. Two
// levers, both driven by what the hub measures of itself:
// - Once the hub is overloaded (messages wait longer than `maxDelayMs` for the journal, or the
//   rules are more than `maxRulesBehindMs` behind it) each client gets a share of QoS 0 publishes
//   per quarter second; those past it are left out as their bytes are read, before the broker
//   parses them, and counted. A QoS 0 sender accepted loss, skipping bytes is cheap, and a late
//   alert is worth less than a reading that never came. The share halves while the hub stays
//   overloaded and grows back while it keeps up. Every QoS 1 or 2 message is kept.
// - While the bytes read but not yet journaled reach `maxPendingBytes`, or the rules fall twice
//   as far behind, clients publishing past a sensor's share are not read: the rest waits in the
//   kernel, and TCP holds the senders back. They get their turn back in order. A device within a
//   sensor's share is read up to twice the budget: its readings are not queued behind floods.
// Besides, the reads of flooding clients (past their share, with more waiting) are spread over
// turns of the event loop (read-turns.ts): a device's acknowledgement never waits behind hundreds
// of them. Only theirs: spreading every busy client's reads starved steady QoS 1 traffic, as each
// message then waited for a turn of its own (500 devices: 1,500 instead of 10,000 messages/s).
import type { Duplex } from 'node:stream';
import { isPublish, isQos0Publish, PacketScanner } from '../security/packet-scanner.ts';
import type { AdmissionStatus } from './admission-status.ts';
import { ReadTurns } from './read-turns.ts';

export interface AdmissionOptions {
  maxPendingBytes: number;
  maxDelayMs: number;
  maxRulesBehindMs: number;
  /** How long ago the oldest entry the rules have not judged became durable, ms. */
  rulesBehindMs: () => number;
  now: () => number;
  /** Told of QoS 0 packets left out, as they are. */
  onShed?: (packets: number) => void;
  /**
   * A client that sends past its share in every window for this long is disconnected: what it
   * left waiting in the kernel goes with it, instead of being read only to be left out.
   */
  floodGraceMs: number;
  /** Told of a client disconnected for flooding, before it is. */
  onFlooding?: (stream: Duplex) => void;
  /** How often a paused reader looks again whether it may go on, ms. */
  recheckMs?: number;
}

/** A message on its way to the journal, from when it was read. */
export interface Admitted {
  bytes: number;
  at: number;
}

/**
 * What the hub keeps of a message on its way to the journal besides its bytes (its parsed form,
 * the entries made of it, the promises waiting for it): counted against maxPendingBytes with them.
 */
export const MESSAGE_OVERHEAD_BYTES = 1024;

/** Weight of the newest delay in its moving average. */
const DELAY_WEIGHT = 0.2;
/** Shares are counted over windows of this length, ms. */
const WINDOW_MS = 250;
/** Packets one read hands to the broker, at most. */
const PACKETS_PER_READ = 64;
/** No client's share is less than this many QoS 0 messages a window (20 a second): a sensor's readings always fit. */
const MIN_SHARE = 5;
const LIGHT_BYTES = 16 * 1024; // a window within a sensor's share: a few readings, not large messages
const ONSET_CHECK_MS = 10; // while no share holds, how often the hub looks whether an overload has begun
/** Milliseconds of reading flooding clients in one turn of the event loop, at most. */
const READ_MS_PER_TURN = 5;

/** One connection's reading: its own packet scanner and its QoS 0 publishes in the current window. */
interface Reader {
  scanner: PacketScanner;
  window: number;
  count: number;
  /** Packets left out in the read under way, reported when it ends. */
  shed: number;
  /** The window in which it went past its share: it is not read again before the next one. */
  throttledWindow: number;
  /** Since when it has gone past its share in every window it was read in, with more always waiting. */
  floodingSince: number | undefined;
  /** Publishes of any QoS, and their bytes, in the window `window` counts and in the one before. */
  sent: { publishes: number; bytes: number };
  sentBefore: { publishes: number; bytes: number };
}

export class Admission {
  private pendingBytes = 0;
  /** Messages on their way to the journal, oldest first (a Set keeps insertion order). */
  private readonly pending = new Set<Admitted>();
  private peakPendingBytes = 0;
  private delayMs = 0;
  private shedCount = 0;
  private pauses = 0;
  private pausedSince: number | undefined;
  /** Paused streams, in the order they were paused: the first is read first. */
  private readonly waiting: Duplex[] = [];
  /** The stream being given its turn: its read goes through. */
  private turn: Duplex | undefined;
  /** Clients past their share in this window, read again in the next. */
  private readonly throttled = new Set<Duplex>();
  private timer: NodeJS.Timeout | undefined;
  /** QoS 0 publishes each client may send per window while shedding; undefined while not. */
  private share: number | undefined;
  /** The current window, counted from start; messages journaled, clients publishing, and whether any went past the share in it. */
  private window = 0;
  private windowStart: number;
  private admittedInWindow = 0;
  private activeInWindow = 0;
  private overShareInWindow = false;
  private onsetCheckedAt = Number.NEGATIVE_INFINITY;
  private readonly turns: ReadTurns;

  constructor(private readonly options: AdmissionOptions) {
    this.windowStart = options.now();
    this.turns = new ReadTurns({ now: options.now, budgetMs: READ_MS_PER_TURN, onTurn: () => this.resume() });
  }

  /** A reloaded configuration's bounds, from the next message on; a full budget drains as usual. */
  retune(bounds: Pick<AdmissionOptions, 'maxPendingBytes' | 'maxDelayMs' | 'maxRulesBehindMs' | 'floodGraceMs'>): void {
    Object.assign(this.options, bounds);
  }

  /** A message of `payloadBytes` goes to the journal; call `done` with the result once it is there (or refused). */
  begin(payloadBytes: number): Admitted {
    this.roll();
    this.admittedInWindow++;
    const bytes = payloadBytes + MESSAGE_OVERHEAD_BYTES;
    this.pendingBytes += bytes;
    this.peakPendingBytes = Math.max(this.peakPendingBytes, this.pendingBytes);
    const admitted = { bytes, at: this.options.now() };
    this.pending.add(admitted);
    return admitted;
  }

  done(admitted: Admitted): void {
    if (!this.pending.delete(admitted)) return;
    this.pendingBytes -= admitted.bytes;
    this.delayMs += DELAY_WEIGHT * (this.options.now() - admitted.at - this.delayMs);
    if (this.waiting.length > 0 && !this.full()) this.resume();
  }

  /**
   * Wraps a connection's stream: a packet announced above `maxPacketBytes` closes it before it is
   * read in; QoS 0 publishes past the client's share are left out while the hub is overloaded;
   * and while the hub is full the broker's reads of a client that has published get nothing.
   * `publishes` tells whether the stream's client has published, so subscribers'
   * acknowledgements and pings keep flowing.
   */
  gate(
    stream: Duplex,
    connection: { publishes: () => boolean; maxPacketBytes: number; tooLarge: (length: number) => void },
  ): Duplex {
    const { publishes } = connection;
    const reader: Reader = {
      window: -1,
      count: 0,
      shed: 0,
      throttledWindow: -1,
      floodingSince: undefined,
      sent: { publishes: 0, bytes: 0 },
      sentBefore: { publishes: 0, bytes: 0 },
      // One scanner per connection, at the bottom of its reads: bytes put back (unshift) come again
      // to it alone, so it never sees a byte twice.
      scanner: new PacketScanner((first, length) => {
        if (length > connection.maxPacketBytes) {
          connection.tooLarge(length);
          return 'close';
        }
        if (isPublish(first)) {
          const { sent } = this.counted(reader);
          if (sent.publishes++ === 0) this.activeInWindow++;
          sent.bytes += length;
        }
        if (!isQos0Publish(first) || !this.sheds(reader)) return 'keep';
        if (
          reader.floodingSince !== undefined &&
          this.options.now() - reader.floodingSince >= this.options.floodGraceMs
        ) {
          this.options.onFlooding?.(stream);
          return 'close';
        }
        reader.shed++;
        return 'drop';
      }),
    };
    const read = stream.read.bind(stream);
    stream.read = (size?: number) => {
      const turn = this.turn === stream;
      const light = this.light(reader);
      const heldBack = !light || this.pendingBytes >= 2 * this.options.maxPendingBytes;
      if (!turn && publishes() && heldBack && (this.full() || this.waiting.length > 0)) {
        this.pause(stream);
        return null;
      }
      // What is left out is skipped here; a read that left out everything reads on, so the
      // broker is not handed an empty chunk while bytes wait. A read hands on at most
      // PACKETS_PER_READ packets and puts the rest back: what one client has in flight, and the
      // time its turn takes, stay small whatever its socket buffer holds.
      this.roll();
      // A client past its share is read again in the next window: what it sends meanwhile waits
      // in the kernel, and TCP holds it back, rather than being read only to be left out.
      if (reader.throttledWindow === this.window) {
        this.throttle(stream);
        return null;
      }
      if (!turn && reader.floodingSince !== undefined && this.turns.spent()) {
        this.turns.defer(stream);
        return null;
      }
      this.turns.forget(stream); // read now, whatever its turn
      try {
        for (;;) {
          const chunk = read(size) as Buffer | null;
          if (chunk === null) {
            // Nothing more waits: it sends no faster than it is read, so it is not flooding. A
            // window in which it was not read (held back, or waiting for its turn) ends nothing.
            reader.floodingSince = undefined;
            return null;
          }
          const passed = reader.scanner.filter(chunk, PACKETS_PER_READ);
          if (passed === 'close') {
            stream.destroy();
            return null;
          }
          if (passed.rest) stream.unshift(passed.rest);
          if (passed.kept.length > 0) return passed.kept;
          if (passed.rest) return null;
          if (reader.throttledWindow === this.window) {
            this.throttle(stream);
            return null;
          }
        }
      } finally {
        if (reader.shed > 0) {
          this.shedCount += reader.shed;
          this.options.onShed?.(reader.shed);
          reader.shed = 0;
        }
      }
    };
    stream.once('close', () => {
      const at = this.waiting.indexOf(stream);
      if (at >= 0) this.waiting.splice(at, 1);
      this.throttled.delete(stream);
      this.turns.forget(stream);
    });
    return stream;
  }

  /** Now, and since start: the most ever pending, messages shed, and how often reading was paused. */
  status(): AdmissionStatus {
    this.roll();
    return {
      pendingBytes: this.pendingBytes,
      peakPendingBytes: this.peakPendingBytes,
      delayMs: Math.round(this.delayMs),
      overloaded: this.overloaded(),
      ...(this.share !== undefined && { sharePerSecond: Math.round((this.share * 1000) / WINDOW_MS) }),
      shed: this.shedCount,
      pauses: this.pauses,
      pausedClients: this.waiting.length,
      pausedForMs: this.pausedSince === undefined ? 0 : this.options.now() - this.pausedSince,
      readWaitMs: this.turns.waitedMs(),
      rulesBehindMs: this.options.rulesBehindMs(),
      maxRulesBehindMs: this.options.maxRulesBehindMs,
    };
  }

  /** Lets every paused stream go on, as the hub stops. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    const streams = [...this.waiting.splice(0), ...this.throttled];
    this.throttled.clear();
    this.turns.close();
    for (const stream of streams) setImmediate(() => stream.emit('readable'));
  }

  /**
   * Overloaded when messages waited too long for the journal — on average of late, or the oldest
   * still waiting, which tells at once what the average tells only once it has arrived — or
   * publishers waited as long to be read (their messages wait in the kernel meanwhile), for the
   * budget to drain or for a turn, or the rules are too far behind.
   */
  private overloaded(): boolean {
    const now = this.options.now();
    const oldest = this.pending.values().next();
    const waiting = oldest.done ? 0 : now - oldest.value.at;
    const paused = this.pausedSince === undefined ? 0 : now - this.pausedSince;
    return (
      Math.max(this.delayMs, waiting, paused, this.turns.waitedMs()) > this.options.maxDelayMs ||
      this.options.rulesBehindMs() > this.options.maxRulesBehindMs
    );
  }

  /** The reader, its counts moved on to the current window. */
  private counted(reader: Reader): Reader {
    if (reader.window === this.window) return reader;
    reader.sentBefore = reader.window === this.window - 1 ? reader.sent : { publishes: 0, bytes: 0 };
    return Object.assign(reader, { window: this.window, count: 0, sent: { publishes: 0, bytes: 0 } });
  }

  /** Within a sensor's share, now and in the window before: read past the budget, up to twice it (at most a read more). */
  private light(reader: Reader): boolean {
    const { sent, sentBefore } = this.counted(reader);
    return [sent, sentBefore].every((w) => w.publishes < MIN_SHARE && w.bytes < LIGHT_BYTES);
  }

  /** Counts a QoS 0 publish of this client; true when it goes past the client's share. Windows roll per read, not per packet. */
  private sheds(reader: Reader): boolean {
    this.counted(reader);
    reader.count++;
    if (this.share === undefined || reader.count <= this.share) return false;
    this.overShareInWindow = true;
    reader.floodingSince ??= this.options.now();
    reader.throttledWindow = this.window;
    return true;
  }

  /**
   * At the end of a window, the share follows what the hub measured in it: half of it (never
   * less than what a sensor needs) while overloaded, a quarter more while it keeps up, and no
   * share at all once no client sent past it. An overload that begins ends the window there and
   * then: until a share starts, every client is read in full, and a device's reading waits behind it all.
   */
  private roll(): void {
    const now = this.options.now();
    if (now - this.windowStart < WINDOW_MS && !this.onset(now)) return;
    // A window in which nothing came or waited: what the last messages waited is history.
    if (this.admittedInWindow === 0 && this.pending.size === 0) this.delayMs = 0;
    const each = this.admittedInWindow / Math.max(1, this.activeInWindow);
    if (this.overloaded()) this.share = Math.max(MIN_SHARE, Math.floor(Math.min(this.share ?? each, each) / 2));
    else if (this.share !== undefined) this.share = this.overShareInWindow ? Math.ceil(this.share * 1.25) : undefined;
    this.window += 1;
    this.windowStart = now;
    this.admittedInWindow = 0;
    this.activeInWindow = 0;
    this.overShareInWindow = false;
    // Clients held back for the window just over get their turn.
    for (const stream of this.throttled) this.turns.defer(stream);
    this.throttled.clear();
  }

  /** Whether an overload has begun while no share holds; looked at no more often than every ONSET_CHECK_MS. */
  private onset(now: number): boolean {
    if (this.share !== undefined || now - this.onsetCheckedAt < ONSET_CHECK_MS) return false;
    this.onsetCheckedAt = now;
    return this.overloaded();
  }

  private giveTurn(stream: Duplex): void {
    this.turn = stream;
    try {
      stream.emit('readable');
    } finally {
      this.turn = undefined;
    }
  }

  private throttle(stream: Duplex): void {
    this.throttled.add(stream);
    this.tick();
  }

  /** While anyone is held back or waits, the clock is looked at: nothing else may come to roll the window or resume. */
  private tick(): void {
    this.timer ??= setInterval(() => {
      this.roll();
      this.resume();
      if (this.waiting.length === 0 && this.throttled.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, this.options.recheckMs ?? 20);
  }

  private full(): boolean {
    return (
      this.pendingBytes >= this.options.maxPendingBytes ||
      this.options.rulesBehindMs() > 2 * this.options.maxRulesBehindMs
    );
  }

  private pause(stream: Duplex): void {
    if (this.waiting.length === 0) this.pauses++;
    if (!this.waiting.includes(stream)) this.waiting.push(stream);
    this.pausedSince ??= this.options.now();
    // The rules catching up announces nothing: look again on a clock while anyone waits.
    this.tick();
  }

  /**
   * Gives paused streams their turn, oldest first, while there is room: each is told it is
   * readable, and Aedes reads and parses it at once, so the room it takes shows before the next.
   */
  private resume(): void {
    while (this.waiting.length > 0 && !this.full() && !this.turns.spent()) {
      this.giveTurn(this.waiting.shift()!);
    }
    if (this.waiting.length === 0) this.pausedSince = undefined;
  }
}
