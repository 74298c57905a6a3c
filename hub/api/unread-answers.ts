// Answers clients have not taken. A client that asks and never reads leaves its answer in the
// hub's memory, as much of it as the kernel's socket buffers do not hold: several megabytes for a
// long series of readings. Three bounds keep such clients from filling it:
// - one answer at a time on a connection: a request sent ahead (HTTP pipelining) is not worked on
//   until the answer before it has gone to the kernel, and a connection with more than AHEAD_MAX
//   waiting is closed, so answers cannot pile up behind one that is not read. A request takes its
//   place as it comes and waits for its turn once its body is read, so its body does not wait in
//   the socket for the request timeout;
// - an answer the client takes nothing of for `timeoutMs` is cut off and its connection closed. A
//   large answer goes out in slices, each taken when the kernel has taken the one before, so a
//   slow reader that keeps reading is not cut off, however long the whole takes;
// - answers handed over and not yet taken, all connections together, stay under `maxBytes`:
//   past it a further answer larger than SLICE_BYTES is refused (503) instead of held, unless none
//   is held at all, so one answer larger than the bound still goes. Small answers (health,
//   metrics, the floor) go regardless: each connection holds at most one, for at most `timeoutMs`.
// Live feeds write past this and bound their own; MQTT over WebSocket is the broker's to bound.
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** Requests a client may send ahead of the one being answered on its connection. */
export const AHEAD_MAX = 8;

/** A large answer is handed to the socket this much at a time; a smaller one is sent whole, even past `maxBytes`. */
export const SLICE_BYTES = 64 * 1024;

/** What a refused answer drops of the headers its route set: they describe the answer not sent. */
const ANSWER_HEADERS = ['content-disposition', 'etag', 'last-modified', 'cache-control'];

export type UnreadClose = 'unread' | 'ahead';

export interface UnreadAnswersOptions {
  maxBytes: number;
  timeoutMs: number;
  /** A connection closed: its answer was not taken in time, or it sent too many requests ahead. */
  onClosed: (why: UnreadClose, address: string | undefined) => void;
  /** An answer refused because `maxBytes` of answers already wait for their clients. */
  onRefused: (bytes: number, waiting: number, address: string | undefined) => void;
}

export interface UnreadAnswers {
  /** Bytes of answers handed over and not yet taken by their clients. */
  waitingBytes: () => number;
}

/** A request's place on its connection: it is answered when every one before it has been. */
interface Ticket {
  /** What waits for its turn: its handler, and the timer of an answer made before the turn came. */
  onTurn: (() => void)[];
}

interface Connection {
  /** The requests not yet answered, in the order they came: the first has the turn. */
  line: Ticket[];
  /** What to do when the connection ends: answers queued behind others then never end on their own. */
  onEnd: Set<() => void>;
  /** Closed for sending too many ahead: what else it sent in the same packet is not counted again. */
  closed: boolean;
}

const giveTurn = (ticket: Ticket): void => ticket.onTurn.splice(0).forEach((then) => then());

/** Runs `then` when `ticket` has the turn on `connection`, or now if it has it or no longer has a place. */
function whenTurn(connection: Connection, ticket: Ticket, then: () => void): void {
  if (connection.line[0] === ticket || !connection.line.includes(ticket)) then();
  else ticket.onTurn.push(then);
}

export function boundUnreadAnswers(app: FastifyInstance, options: UnreadAnswersOptions): UnreadAnswers {
  const { maxBytes, timeoutMs, onClosed, onRefused } = options;
  const connections = new WeakMap<Socket, Connection>();
  const tickets = new WeakMap<object, Ticket>();
  let waiting = 0;

  const connectionOf = (socket: Socket): Connection => {
    let connection = connections.get(socket);
    if (connection === undefined) {
      const c: Connection = { line: [], onEnd: new Set(), closed: false };
      connections.set(socket, c);
      socket.once('close', () => {
        c.onEnd.forEach((end) => end());
        // Requests still waiting go on, to find no one to answer.
        c.line.splice(0).forEach(giveTurn);
      });
      connection = c;
    }
    return connection;
  };

  /** Runs `end` once: when the answer has been handed to the kernel, or has ended otherwise, or its connection has. */
  const whenEnded = (connection: Connection, answer: NodeJS.EventEmitter, end: () => void): void => {
    const once = (): void => {
      if (!connection.onEnd.delete(once)) return;
      end();
    };
    connection.onEnd.add(once);
    answer.once('finish', once).once('close', once);
  };

  // The place in line is taken as the request comes, before any other hook can make it wait
  // (a password check), so answers are worked on in the order Node sends them.
  app.addHook('onRequest', async (request, reply) => {
    const { socket } = request.raw;
    const connection = connectionOf(socket);
    if (connection.closed || connection.line.length > AHEAD_MAX) {
      if (!connection.closed) onClosed('ahead', socket.remoteAddress);
      connection.closed = true;
      socket.destroy();
      reply.hijack();
      return;
    }
    const ticket: Ticket = { onTurn: [] };
    connection.line.push(ticket);
    tickets.set(request.raw, ticket);
    // However this answer ends, early refusals among them, the turn passes on.
    whenEnded(connection, reply.raw, () => {
      const at = connection.line.indexOf(ticket);
      if (at >= 0) connection.line.splice(at, 1);
      const next = connection.line[0];
      if (at === 0 && next !== undefined) giveTurn(next);
    });
  });

  // Waited for once the body is read, so a body does not wait in the socket for the request timeout.
  app.addHook('preHandler', async (request, reply) => {
    const { socket } = request.raw;
    const ticket = tickets.get(request.raw);
    const connection = connections.get(socket);
    if (ticket === undefined || connection === undefined) return;
    await new Promise<void>((resolve) => whenTurn(connection, ticket, resolve));
    if (socket.destroyed) reply.hijack();
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const bytes =
      typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : 0;
    // Nothing is held: a stream is piped as its client takes it, a bodiless answer sends no body,
    // and a client that has gone gets nothing (its answer's 'close' has already come).
    const status = reply.statusCode;
    const { socket } = request.raw;
    if (
      bytes === 0 ||
      request.method === 'HEAD' ||
      status === 204 ||
      status === 304 ||
      reply.raw.destroyed ||
      socket.destroyed
    )
      return payload;
    if (bytes > SLICE_BYTES && waiting > 0 && waiting + bytes > maxBytes) {
      onRefused(bytes, waiting, socket.remoteAddress);
      for (const name of ANSWER_HEADERS) reply.removeHeader(name);
      void reply.code(503).header('retry-after', '10').header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify({
        error: 'Service Unavailable',
        message: `this answer (${bytes} bytes) is not sent now: ${waiting} bytes of answers already wait for clients to read them, and limits.http_unread_bytes allows ${maxBytes}; try again shortly`,
      });
    }
    waiting += bytes;
    // The time runs from the answer's turn: one made early (a refusal by an access check) waits,
    // untaken through no fault of its client, while the answer before it is read.
    const connection = connectionOf(socket);
    let cutOff: NodeJS.Timeout | undefined;
    let ended = false;
    const startClock = (): void => {
      if (ended) return;
      cutOff = setTimeout(() => {
        onClosed('unread', socket.remoteAddress);
        socket.destroy();
      }, timeoutMs).unref();
    };
    const ticket = tickets.get(request.raw);
    if (ticket === undefined) startClock();
    else whenTurn(connection, ticket, startClock);
    whenEnded(connection, reply.raw, () => {
      ended = true;
      waiting -= bytes;
      clearTimeout(cutOff);
    });
    if (bytes <= SLICE_BYTES) return payload;
    void reply.header('content-length', bytes);
    return inSlices(typeof payload === 'string' ? Buffer.from(payload) : (payload as Buffer), () => cutOff?.refresh());
  });

  return { waitingBytes: () => waiting };
}

/**
 * `body` as a stream of slices. Piped to the answer, the next slice is asked for once the socket
 * has handed the last to the kernel: each ask is the client taking some of it (`onTaken`).
 */
function inSlices(body: Buffer, onTaken: () => void): Readable {
  let offset = 0;
  return new Readable({
    read() {
      onTaken();
      const end = Math.min(offset + SLICE_BYTES, body.length);
      this.push(offset < end ? body.subarray(offset, end) : null);
      offset = end;
    },
  });
}
