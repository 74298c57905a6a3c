// Devices that connect while Redis is away. A clean session needs nothing Redis holds: what its
// connection would write there (clearing what an earlier session of the same client left, and its
// last will, which another hub publishes should this one die) is owed rather than waited for, and
// written once Redis answers, for the clients still connected. A persistent session needs the
// subscriptions and messages Redis keeps for it, and still waits for Redis.
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** An Aedes client, as far as its session's writes need it. */
export interface SessionClient {
  id: string;
  clean: boolean;
  closed: boolean;
  will?: unknown;
  subscriptions: Record<string, unknown>;
}

/** The aedes-persistence methods a connection with a clean session calls on its way in. */
export interface SessionWrites {
  cleanSubscriptions(client: SessionClient): Promise<void>;
  cleanIncoming(client: SessionClient): Promise<void>;
  putWill(client: SessionClient, packet: unknown): Promise<void>;
  outgoingStream(client: SessionClient): AsyncIterable<unknown>;
}

type Write = 'clean' | 'incoming' | 'will';

interface Owed {
  client: SessionClient;
  writes: Set<Write>;
  /** Where the client is connected, for its will (broker-state.ts, Wills). */
  presence?: () => Promise<unknown>;
}

/** While Redis is away, it is asked whether it answers again this often. */
const PROBE_MS = 1000;
/** Owed writes of clients gone are swept once the owed reach this many, then twice as many as stay. */
const FIRST_SWEEP = 1024;

export class AwaySessions {
  private away = false;
  private readonly owed = new Map<string, Owed>();
  private sweepAt = FIRST_SWEEP;
  private probe: NodeJS.Timeout | undefined;
  private send!: Pick<SessionWrites, 'cleanSubscriptions' | 'cleanIncoming' | 'putWill'>;

  constructor(
    private readonly options: {
      /** The persistence's connection: its state says whether Redis is connected. */
      conn: Pick<Redis, 'status' | 'ping'>;
      url: string;
      log: Logger;
      /** How often Redis is asked whether it answers again while away. Default 1000 ms. */
      probeMs?: number;
    },
  ) {}

  /** Makes the persistence's session writes for clean sessions wait for Redis only while it answers. */
  wrap(persistence: SessionWrites): void {
    const send = {
      cleanSubscriptions: persistence.cleanSubscriptions.bind(persistence),
      cleanIncoming: persistence.cleanIncoming.bind(persistence),
      putWill: persistence.putWill.bind(persistence),
    };
    const outgoing = persistence.outgoingStream.bind(persistence);
    this.send = send;
    persistence.cleanSubscriptions = (client) => this.write(client, 'clean', () => send.cleanSubscriptions(client));
    persistence.cleanIncoming = (client) => this.write(client, 'incoming', () => send.cleanIncoming(client));
    persistence.putWill = (client, packet) => this.write(client, 'will', () => send.putWill(client, packet));
    // What waits in Redis for a clean session is discarded as it is read: while Redis is away, there is none to read.
    persistence.outgoingStream = (client) =>
      !client.clean ? outgoing(client) : this.away ? Readable.from([]) : this.tolerant(outgoing(client));
  }

  /** Whether Redis is taken to be away: from a command that failed for it, until it answers a probe. */
  get isAway(): boolean {
    return this.away;
  }

  /** Clients whose session writes wait for Redis: at most the clients connected, and those gone since the last sweep. */
  get owing(): number {
    return this.owed.size;
  }

  /**
   * Records where a client with a will is connected, or owes it with the client's will when that
   * is owed too (the record is no use without the will). False: not owed, record it now.
   */
  owesPresence(clientId: string, record: () => Promise<unknown>): boolean {
    const owed = this.owed.get(clientId);
    if (!owed) return false;
    owed.presence = record;
    return true;
  }

  close(): void {
    clearInterval(this.probe);
    this.probe = undefined;
  }

  private async write(client: SessionClient, write: Write, send: () => Promise<void>): Promise<void> {
    // A closing client's clean-up is not owed: the next clean session of its id does it again.
    if (!client.clean || client.closed) return send();
    if (!this.away) {
      try {
        await send();
        return;
      } catch (err) {
        if (!this.failedForAbsence(err)) throw err;
        this.wentAway(err);
      }
    }
    this.owe(client, write);
  }

  private async *tolerant(source: AsyncIterable<unknown>): AsyncGenerator {
    try {
      yield* source;
    } catch (err) {
      if (!this.failedForAbsence(err)) throw err;
      this.wentAway(err);
    }
  }

  /** Not connected, or connected and silent (a Redis stopped rather than gone keeps its connections). */
  private failedForAbsence(err: unknown): boolean {
    return this.options.conn.status !== 'ready' || (err as Error).message === 'Command timed out';
  }

  private owe(client: SessionClient, write: Write): void {
    let owed = this.owed.get(client.id);
    if (owed?.client !== client) {
      owed = { client, writes: new Set() };
      this.owed.set(client.id, owed);
    }
    owed.writes.add(write);
    // Bounded by the clients connected: those gone are swept as the owed grow.
    if (this.owed.size < this.sweepAt) return;
    for (const [id, o] of this.owed) if (o.client.closed) this.owed.delete(id);
    this.sweepAt = Math.max(FIRST_SWEEP, 2 * this.owed.size);
  }

  private wentAway(err: unknown): void {
    if (this.away) return;
    this.away = true;
    this.options.log.warn(
      { err: (err as Error).message },
      `Redis at ${this.options.url} does not answer: devices connecting with a clean session are let in, and what their sessions keep in Redis (their last wills) is written when it answers again; devices with a persistent session wait for it`,
    );
    this.probe = setInterval(() => {
      this.options.conn.ping().then(
        () => void this.back(),
        () => undefined,
      );
    }, this.options.probeMs ?? PROBE_MS);
    this.probe.unref();
  }

  /** Redis answers again: the owed writes of the clients still connected are made. */
  private async back(): Promise<void> {
    if (!this.away) return;
    this.away = false;
    clearInterval(this.probe);
    this.probe = undefined;
    const owed = [...this.owed.values()];
    this.owed.clear();
    let written = 0;
    for (const [i, o] of owed.entries()) {
      const { client } = o;
      if (client.closed) continue;
      try {
        // A client that has subscribed since has a session of its own by now: nothing of it is cleared.
        if (o.writes.has('clean') && Object.keys(client.subscriptions).length === 0)
          await this.send.cleanSubscriptions(client);
        if (o.writes.has('incoming')) await this.send.cleanIncoming(client);
        if (o.writes.has('will') && client.will) await this.send.putWill(client, client.will);
        await o.presence?.();
        written++;
      } catch (err) {
        if (!this.failedForAbsence(err)) {
          this.options.log.warn(
            { err: (err as Error).message, client: client.id },
            `could not write the session of ${client.id}, which connected while Redis was away, to Redis: ${(err as Error).message}`,
          );
          continue;
        }
        // Away again: this client's writes and those after it wait for the next time.
        for (const rest of owed.slice(i)) if (!this.owed.has(rest.client.id)) this.owed.set(rest.client.id, rest);
        this.wentAway(err);
        break;
      }
    }
    if (written > 0)
      this.options.log.info(
        { devices: written },
        `Redis at ${this.options.url} answers again: wrote the sessions (last wills) of ${written} devices that connected while it was away`,
      );
  }
}
