// Answers clients have not taken. A client that asks and never reads leaves its answer in the
// hub's memory, as much of it as the kernel's socket buffers do not hold: several megabytes for a
// long series of readings. Three bounds keep such clients from filling it:
// - one answer at a time on a connection: a request sent ahead (HTTP pipelining) is not worked on
//   until the answer before it has gone to the kernel, and a connection with more than
//   AHEAD_MAX waiting is closed, so answers cannot pile up behind one that is not read;
// - an answer not taken whole within `timeoutMs` is cut off and its connection closed;
// - answers handed over and not yet taken, all connections together, stay under `maxBytes`:
//   past it a further answer larger than SMALL_BYTES is refused (503) instead of held, unless none
//   is held at all, so one answer larger than the bound still goes. Small answers (health,
//   metrics, the floor) go regardless: each connection holds at most one, for at most `timeoutMs`.
// A reader that takes its answers steadily meets none of them. Live feeds write past this and
// bound their own; MQTT over WebSocket is the broker's to bound.
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Requests a client may send ahead of the one being answered on its connection. */
export const AHEAD_MAX = 8;

/** Answers this small are sent even past `maxBytes`, so the hub can still be watched while it refuses. */
export const SMALL_BYTES = 64 * 1024;

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

interface Connection {
  /** Settles when the latest answer begun on this connection has ended. */
  last: Promise<unknown>;
  ahead: number;
  closed: Promise<unknown>;
}

export function boundUnreadAnswers(app: FastifyInstance, options: UnreadAnswersOptions): UnreadAnswers {
  const { maxBytes, timeoutMs, onClosed, onRefused } = options;
  const connections = new WeakMap<Socket, Connection>();
  let waiting = 0;

  app.addHook('onRequest', async (request, reply) => {
    const { socket } = request.raw;
    // 'close' comes once the answer has gone to the kernel, or its connection has ended.
    const ended = new Promise((resolve) => reply.raw.once('close', resolve));
    const connection = connections.get(socket);
    if (connection === undefined) {
      const closed = new Promise((resolve) => socket.once('close', resolve));
      connections.set(socket, { last: ended, ahead: 0, closed });
      return;
    }
    const before = connection.last;
    connection.last = ended;
    if (connection.ahead >= AHEAD_MAX) {
      onClosed('ahead', socket.remoteAddress);
      socket.destroy();
      reply.hijack();
      return;
    }
    connection.ahead++;
    try {
      await Promise.race([before, connection.closed]);
    } finally {
      connection.ahead--;
    }
    // Its connection ended while it waited: no one is left to answer.
    if (socket.destroyed) reply.hijack();
  });

  app.addHook('onSend', async (request, reply, payload) => {
    // A stream is piped as its client takes it; only whole answers are held.
    const bytes =
      typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : 0;
    if (bytes === 0) return payload;
    const { socket } = request.raw;
    if (bytes > SMALL_BYTES && waiting > 0 && waiting + bytes > maxBytes) {
      onRefused(bytes, waiting, socket.remoteAddress);
      void reply.code(503).header('retry-after', '10').header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify({
        error: 'Service Unavailable',
        message: `this answer (${bytes} bytes) is not sent now: ${waiting} bytes of answers already wait for clients to read them, and limits.http_unread_bytes allows ${maxBytes}; try again shortly`,
      });
    }
    waiting += bytes;
    const cutOff = setTimeout(() => {
      onClosed('unread', socket.remoteAddress);
      socket.destroy();
    }, timeoutMs);
    cutOff.unref();
    reply.raw.once('close', () => {
      waiting -= bytes;
      clearTimeout(cutOff);
    });
    return payload;
  });

  return { waitingBytes: () => waiting };
}
