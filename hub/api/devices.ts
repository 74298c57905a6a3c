// GET /api/v1/devices: declared and reporting devices, with kind, zone, last seen and presence, a
// page at a time in id order (`after` is the last id of the previous page, `next` in its answer).
import type { FastifyPluginAsync } from 'fastify';
import type { DeviceRegistry } from '../devices/registry.ts';
import { BadRequest, parseId, parseLimit, single } from './params.ts';

export interface DevicesRoutesOptions {
  registry: DeviceRegistry;
  now: () => number;
}

const DEFAULT_PAGE = 500;
const MAX_PAGE = 5000;

const devicesQuerySchema = {
  type: 'object',
  properties: {
    zone: { type: 'string', description: 'only devices in this zone' },
    online: { type: 'string', description: 'only devices online (true) or offline (false)' },
    limit: { type: 'string', description: `devices per page, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE})` },
    after: { type: 'string', description: 'a device id: the page starts after it (the previous answer\'s next)' },
  },
} as const;

export const devicesRoutes: FastifyPluginAsync<DevicesRoutesOptions> = async (app, { registry, now }) => {
  app.get(
    '/api/v1/devices',
    {
      schema: {
        summary: `Devices: declared and reporting, with presence and last heartbeat; up to ${MAX_PAGE} a page, in id order`,
        // In words rather than as a response schema: serialising a page through one cost six times as long.
        description:
          'Answers {devices, total, next, unassigned}: devices is one page in id order; total counts the devices matching the filters on all pages; ' +
          'next is the id to pass as after= for the next page, null on the last; unassigned lists the ids on this page not declared in the configuration.',
        querystring: devicesQuerySchema,
      },
    },
    async (request) => {
      const q = request.query;
      const zone = parseId('zone', single(q, 'zone'));
      const onlineText = single(q, 'online');
      if (onlineText !== undefined && onlineText !== 'true' && onlineText !== 'false') throw new BadRequest(`online=${JSON.stringify(onlineText.slice(0, 20))} must be true or false`);
      const after = parseId('after', single(q, 'after'));
      const limit = parseLimit('limit', single(q, 'limit'), MAX_PAGE) ?? DEFAULT_PAGE;
      const page = registry.page(now(), {
        limit,
        ...(zone !== undefined && { zone }),
        ...(onlineText !== undefined && { online: onlineText === 'true' }),
        ...(after !== undefined && { after }),
      });
      return { ...page, unassigned: page.devices.filter((d) => !d.declared).map((d) => d.id) };
    },
  );

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
