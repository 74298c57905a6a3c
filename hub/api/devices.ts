// GET /api/v1/devices: every declared or reporting device, with kind, zone, last seen and presence.
import type { FastifyPluginAsync } from 'fastify';
import type { DeviceRegistry } from '../devices/registry.ts';
import { BadRequest, parseId, single } from './params.ts';

export interface DevicesRoutesOptions {
  registry: DeviceRegistry;
  now: () => number;
}

export const devicesRoutes: FastifyPluginAsync<DevicesRoutesOptions> = async (app, { registry, now }) => {
  app.get('/api/v1/devices', { schema: { summary: 'Devices: declared and reporting, with presence and last heartbeat' } }, async (request) => {
    const zone = parseId('zone', single(request.query, 'zone'));
    const onlineText = single(request.query, 'online');
    if (onlineText !== undefined && onlineText !== 'true' && onlineText !== 'false') throw new BadRequest(`online=${JSON.stringify(onlineText.slice(0, 20))} must be true or false`);
    const devices = registry
      .list(now())
      .filter((d) => (zone === undefined || d.zone === zone) && (onlineText === undefined || String(d.online) === onlineText));
    return { devices, unassigned: devices.filter((d) => !d.declared).map((d) => d.id) };
  });

  app.get('/api/v1/devices/:id', { schema: { summary: 'One device' } }, async (request, reply) => {
    const id = parseId('id', (request.params as { id: string }).id) ?? '';
    const device = registry.get(id, now());
    if (!device) {
      reply.code(404);
      return { error: 'Not Found', message: `no device "${id}" is declared or has reported` };
    }
    return device;
  });
};
