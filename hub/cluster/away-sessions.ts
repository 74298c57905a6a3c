// Devices that connect while Redis is away. A clean session needs nothing Redis holds: what its
// connection would write there (clearing what an earlier session of the same client left, and its
// last will, which another hub publishes should this one die) is owed rather than waited for, and
// written once Redis answers, for the clients still connected. A persistent session needs the
// subscriptions and messages Redis keeps for it, and still waits for Redis.
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { counted } from '../domain/counted.ts';

/** An Aedes client, as far as its session's writes need it. */
export interface SessionClient {
  id: string;
  clean: boolean;
  closed: boolean;
  will?: unknown;
}

/** The aedes-persistence methods a connection with a clean session calls on its way in. */
export interface SessionWrites {
  /**
   * With a callback, calls it; without, returns a promise (Aedes uses both). `client` is a
   * connecting client (with `clean`), or only the ids (a will leaving or swept).
   */
  delWill(
    client: { id: string; brokerId: string; clean?: boolean },
    cb?: (err?: Error | null) => void,
  ): Promise<unknown> | undefined;
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
/** Sessions whose owed writes are made at the same time once Redis answers again. */
const WRITTEN_AT_ONCE = 64;
/** Owed writes of clients gone are swept once the owed reach this many, then twice as many as stay. */
const FIRST_SWEEP = 1024;

export class AwaySessions {
  private away = false;
  private readonly owed = new Map<string, Owed>();
  private sweepAt = FIRST_SWEEP;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;
  private send!: Pick<SessionWrites, 'cleanSubscriptions' | 'cleanIncoming' | 'putWill'>;

  constructor(
    private readonly options: {
      /** The persistence's connection: its state says whether Redis is connected, and when it is again. */
      conn: Pick<Redis, 'status' | 'ping' | 'on'>;
      url: string;
      log: Logger;
      /** How often Redis is asked whether it answers again while away (a Redis stopped keeps its connection). Default 1000 ms. */
      probeMs?: number;
    },
  ) {
    options.conn.on('ready', () => this.answering());
  }

  /** Makes the persistence's session writes for clean sessions wait for Redis only while it answers. */
  wrap(persistence: SessionWrites): void {
    const send = {
      cleanSubscriptions: persistence.cleanSubscriptions.bind(persistence),
      cleanIncoming: persistence.cleanIncoming.bind(persistence),
      putWill: persistence.putWill.bind(persistence),
    };
    const outgoing = persistence.outgoingStream.bind(persistence);
    const removeWill = persistence.delWill.bind(persistence);
    this.send = send;
    // A clean session connecting while Redis is away is not kept waiting out the command's time
    // limit to remove its earlier will: the will it owes replaces it. A will swept or leaving is
    // still removed, so one published just as Redis answers again is not published at the next sweep.
    persistence.delWill = (client, cb) =>
      !cb && this.away && client.clean === true ? Promise.resolve(null) : removeWill(client, cb);
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
   * is owed too (the record is no use without the will). False: not owed, record it now. An owed
   * entry of a client gone is another connection's, however alike their ids.
   */
  owesPresence(clientId: string, record: () => Promise<unknown>): boolean {
    const owed = this.owed.get(clientId);
    if (!owed || owed.client.closed) return false;
    owed.presence = record;
    return true;
  }

  close(): void {
    this.closed = true;
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
    return this.options.conn.status !== 'ready' || (err instanceof Error && err.message === 'Command timed out');
  }

  private owe(client: SessionClient, write: Write): void {
    this.oweAll({ client, writes: new Set([write]) });
  }

  /** Adds to what the client owes; what an earlier connection of its id owed is dropped. */
  private oweAll(o: Owed): void {
    const owed = this.owed.get(o.client.id);
    if (owed?.client !== o.client) this.owed.set(o.client.id, o);
    else {
      for (const w of o.writes) owed.writes.add(w);
      owed.presence ??= o.presence;
    }
    // Bounded by the clients connected: those gone are swept as the owed grow.
    if (this.owed.size < this.sweepAt) return;
    for (const [id, owed] of this.owed) if (owed.client.closed) this.owed.delete(id);
    this.sweepAt = Math.max(FIRST_SWEEP, 2 * this.owed.size);
  }

  private wentAway(err: unknown): void {
    if (this.away || this.closed) return;
    this.away = true;
    this.options.log.warn(
      { err: reasonOf(err) },
      `Redis at ${this.options.url} does not answer: devices connecting with a clean session are let in, and what their sessions keep in Redis (their last wills) is written when it answers again; devices with a persistent session wait for it`,
    );
    this.probe = setInterval(() => {
      this.options.conn.ping().then(
        () => this.answering(),
        () => undefined,
      );
    }, this.options.probeMs ?? PROBE_MS);
    this.probe.unref();
  }

  private answering(): void {
    this.back().catch((err: unknown) =>
      this.options.log.warn(
        { err: reasonOf(err) },
        `could not write to Redis what devices that connected while it was away owe: ${reasonOf(err)}`,
      ),
    );
  }

  /**
   * A client's owed writes in order, each only while it is still connected: one that left has had
   * its will taken out, and its place in the presence record forgotten.
   */
  private async writeOwed({ client, writes, presence }: Owed): Promise<void> {
    if (!client.closed && writes.has('clean')) await this.send.cleanSubscriptions(client);
    if (!client.closed && writes.has('incoming')) await this.send.cleanIncoming(client);
    if (!client.closed && writes.has('will') && client.will) await this.send.putWill(client, client.will);
    if (!client.closed && presence) await presence();
  }

  /** Redis answers again: the owed writes of the clients still connected are made. */
  private async back(): Promise<void> {
    if (!this.away || this.closed) return;
    this.away = false;
    clearInterval(this.probe);
    this.probe = undefined;
    const owed = [...this.owed.values()];
    this.owed.clear();
    let written = 0;
    /** Sessions Redis refused for a reason other than being away, and the last reason: told once, not per device. */
    let refused = 0;
    let refusal = '';
    /** Set once Redis is found away again: what is not written by then waits for the next time. */
    let awayAgain: { err: unknown } | undefined;
    const unwritten: Owed[] = [];
    let next = 0;
    // Several sessions at once, each one's writes in order: one after the other, a floor of
    // devices that connected meanwhile would wait tens of thousands of round trips for its wills.
    const writeInTurn = async (): Promise<void> => {
      while (next < owed.length && !awayAgain) {
        const o = owed[next++]!;
        try {
          await this.writeOwed(o);
          if (!o.client.closed) written++;
        } catch (err) {
          if (this.failedForAbsence(err)) {
            awayAgain ??= { err };
            unwritten.push(o);
          } else {
            refused++;
            refusal = reasonOf(err);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITTEN_AT_ONCE, owed.length) }, writeInTurn));
    if (awayAgain) {
      // Away again: the sessions it failed on and those not begun wait for the next time, with
      // any owed meanwhile.
      for (const rest of [...unwritten, ...owed.slice(next)]) {
        const since = this.owed.get(rest.client.id);
        if (!since || since.client === rest.client) this.oweAll(rest);
      }
      this.wentAway(awayAgain.err);
    }
    if (refused > 0)
      this.options.log.warn(
        { devices: refused, err: refusal },
        `Redis at ${this.options.url} refused the sessions of ${counted(refused, 'device')} that connected while it was away (${refusal}); their last wills are not in Redis until they connect again`,
      );
    if (written > 0)
      this.options.log.info(
        { devices: written },
        `Redis at ${this.options.url} answers again: wrote the sessions of ${counted(written, 'device')} that connected while it was away (their last wills, where they have one)`,
      );
  }
}

const reasonOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
