// MQTT over WebSocket at /mqtt on the HTTP port, served by the same embedded broker.
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import type WebSocket from 'ws';
import { createWebSocketStream } from 'ws';
import type { Broker } from '../broker/broker.ts';

export const mqttWebSocketRoute: FastifyPluginAsync<{ broker: Broker; maxPacketBytes: number }> = async (
  app,
  { broker, maxPacketBytes },
) => {
  // A WebSocket message is buffered whole before the broker sees a byte of it: no bigger than the
  // largest MQTT packet the broker takes (with room for its fixed header).
  await app.register(websocket, { options: { maxPayload: maxPacketBytes + 16 } });
  // The socket is ws's own class (ws made it); @fastify/websocket's typings name it by an interface.
  app.get('/mqtt', { websocket: true, schema: { hide: true } }, (socket: WebSocket, request) => {
    broker.handle(createWebSocketStream(socket), request.raw);
  });
};
