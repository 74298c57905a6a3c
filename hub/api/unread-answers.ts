// Answers clients have not taken. A client that asks and then never reads leaves its answer in the
// hub's memory, as much of it as the kernel's socket buffers do not hold: up to several megabytes
// for a long series of readings. All HTTP connections together may leave `maxBytes` so
// (limits.http_unread_bytes); past it the connection holding the most is closed, as the broker
// disconnects a subscriber that stops reading. Live feeds bound their own and count here too;
// MQTT over WebSocket is the broker's to bound.
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

export interface UnreadAnswersOptions {
  maxBytes: number;
  /** TLS: what waits is on the TLS connection, not the TCP one under it. */
  tls: boolean;
  /** A connection closed for the bytes it left unread. */
  onClosed: (unreadBytes: number, address: string | undefined) => void;
}

export function boundUnreadAnswers(app: FastifyInstance, { maxBytes, tls, onClosed }: UnreadAnswersOptions): void {
  const sockets = new Set<Socket>();
  app.server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.server.on('upgrade', (_request: unknown, socket: Socket) => sockets.delete(socket));
  // Looked at as each answer is handed over, the moment unread bytes can grow.
  app.addHook('onResponse', async () => {
    let unread = 0;
    for (const socket of sockets) unread += socket.writableLength;
    while (unread > maxBytes) {
      let most: Socket | undefined;
      for (const socket of sockets)
        if (most === undefined || socket.writableLength > most.writableLength) most = socket;
      if (most === undefined) return;
      const held = most.writableLength;
      unread -= held;
      sockets.delete(most);
      onClosed(held, most.remoteAddress);
      most.destroy();
    }
  });
}
