// MQTT over WebSocket at /mqtt on the HTTP port, served by the same embedded broker.
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import { createWebSocketStream } from 'ws';
import type { MqttSource } from '../sources/mqtt.ts';

export const mqttWebSocketRoute: FastifyPluginAsync<{ mqtt: MqttSource }> = async (app, { mqtt }) => {
  await app.register(websocket, { options: { maxPayload: 16 * 1024 * 1024 } });
  app.get('/mqtt', { websocket: true, schema: { hide: true } }, (socket, request) => {
    mqtt.handle(createWebSocketStream(socket), request.raw);
  });
};
