// GET /api/v1/devices: declared and reporting devices, with kind, zone, last seen and presence, a
// page at a time in id order (`after` is the last id of the previous page, `next` in its answer).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DevicePage, DeviceRegistry, DeviceView } from '../devices/registry.ts';
import { DEVICE_KINDS, HEALTH_STATUSES } from '../domain/reading.ts';
import { flagParam, idParam, limitParam } from './params.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, refusal, schemaOf } from './schemas.ts';

export interface DevicesRoutesOptions {
  registry: DeviceRegistry;
  now: () => number;
}

const DEFAULT_PAGE = 500;
const MAX_PAGE = 5000;

const health = z.enum(HEALTH_STATUSES);

export const deviceView = schemaOf<DeviceView>()(
  z.object({
    id: z.string(),
    kind: z.enum(DEVICE_KINDS).nullable(),
    zone: z.string().nullable(),
    declared: z.boolean().describe('false for a device that reports but is not declared in the configuration'),
    online: z.boolean(),
    onlineBy: z
      .enum(['status', 'activity', 'never_seen'])
      .describe('why online is what it is: the last birth or last will (status), or heartbeat freshness (activity)'),
    lastSeen: z.number().nullable().describe('ms since 1970'),
    lastHeartbeat: z.number().nullable(),
    status: health.nullable().describe('from the last heartbeat'),
    components: z
      .record(z.string(), z.object({ state: health, code: z.string().optional() }))
      .describe('from the last heartbeat, such as {"headset":{"state":"degraded","code":"noise"}}'),
    fw: z.string().nullable(),
    metrics: z.array(z.string()).describe('metrics it has reported'),
  }),
);

const devicePage = schemaOf<DevicePage & { unassigned: string[] }>()(
  z
    .object({
      devices: z.array(deviceView).describe('one page, in id order'),
      total: z.number().describe('devices matching the filters, on all pages'),
      next: z.string().nullable().describe('the id to pass as after= for the next page; null on the last'),
      unassigned: z.array(z.string()).describe('the ids on this page that are not declared in the configuration'),
    })
    .describe('a page of devices'),
);

export const devicesRoutes: FastifyPluginAsyncZod<DevicesRoutesOptions> = async (app, { registry, now }) => {
  app.get(
    '/api/v1/devices',
    {
      schema: {
        summary: `Devices: declared and reporting, with presence and last heartbeat; up to ${MAX_PAGE} a page, in id order`,
        description:
          'Answers {devices, total, next, unassigned}: devices is one page in id order; total counts the devices matching the filters on all pages; ' +
          'next is the id to pass as after= for the next page, null on the last; unassigned lists the ids on this page not declared in the configuration.',
        querystring: z.object({
          zone: idParam('zone').optional().describe('only devices in this zone'),
          online: flagParam('online').optional().describe('only devices online (true) or offline (false)'),
          limit: limitParam('limit', MAX_PAGE)
            .optional()
            .describe(`devices per page, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE})`),
          after: idParam('after')
            .optional()
            .describe("a device id: the page starts after it (the previous answer's next)"),
        }),
        response: { 200: devicePage, 400: BAD_REQUEST, ...ACCESS_REFUSALS },
      },
    },
    async (request) => {
      const { zone, online, limit = DEFAULT_PAGE, after } = request.query;
      const page = registry.page(now(), {
        limit,
        ...(zone !== undefined && { zone }),
        ...(online !== undefined && { online: online === 'true' }),
        ...(after !== undefined && { after }),
      });
      return { ...page, unassigned: page.devices.filter((d) => !d.declared).map((d) => d.id) };
    },
  );

  app.get(
    '/api/v1/devices/:id',
    {
      schema: {
        summary: 'One device',
        params: z.object({ id: idParam('id').describe('the device id') }),
        response: {
          200: deviceView.describe('the device'),
          400: BAD_REQUEST,
          404: refusal('no device of this id is declared or has reported'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const device = registry.get(id, now());
      if (!device)
        return reply.code(404).send({ error: 'Not Found', message: `no device "${id}" is declared or has reported` });
      return device;
    },
  );
};
