// GET /api/v1/gateways: each configured serial gateway — its port, presence and frame counts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { FRAME_RESULTS, type GatewayState } from '../sources/serial.ts';
import { ACCESS_REFUSALS, schemaOf } from './schemas.ts';

const gateway = schemaOf<GatewayState>()(
  z.object({
    gateway: z.string(),
    path: z.string().describe('the serial port'),
    baudRate: z.number(),
    connected: z.boolean().describe('the port is open'),
    status: z
      .enum(['online', 'offline', 'unknown'])
      .describe('unknown until the port has opened and a frame arrived once'),
    since: z.number().nullable().describe('since when it has had this status, ms since 1970'),
    lastFrameAt: z.number().nullable(),
    frames: z.record(z.enum(FRAME_RESULTS), z.number()).describe('frames by result since the hub started'),
    devices: z.record(z.string(), z.string()).describe('the devices behind it, and the zone of each'),
  }),
);

export interface GatewaysRoutesOptions {
  gateways: () => GatewayState[];
}

export const gatewaysRoutes: FastifyPluginAsyncZod<GatewaysRoutesOptions> = async (app, { gateways }) => {
  app.get(
    '/api/v1/gateways',
    {
      schema: {
        summary: 'Serial gateways: port, online/offline since when, frames by result',
        response: {
          200: z.object({ gateways: z.array(gateway) }).describe('the configured serial gateways'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async () => ({ gateways: gateways() }),
  );
};
