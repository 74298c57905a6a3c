// GET /api/v1/gateways: each configured serial gateway — its port, presence and frame counts.
import type { FastifyPluginAsync } from 'fastify';
import type { GatewayState } from '../sources/serial.ts';

export const gatewaysRoutes: FastifyPluginAsync<{ gateways: () => GatewayState[] }> = async (app, { gateways }) => {
  app.get('/api/v1/gateways', { schema: { summary: 'Serial gateways: port, online/offline since when, frames by result' } }, async () => ({ gateways: gateways() }));
};
