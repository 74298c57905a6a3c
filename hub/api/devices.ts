// GET /api/v1/devices: declared and reporting devices, with kind, zone, last seen, presence and
// calibration offsets, a page at a time in id order (`after` is the last id of the previous page,
// `next` in its answer). PUT …/calibration/{metric}: an operator's calibration offset.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DevicePage, DeviceRegistry, DeviceView, ForgetOutcome } from '../devices/registry.ts';
import { DEVICE_KINDS, HEALTH_STATUSES, METRIC_PATTERN } from '../domain/reading.ts';
import { CalibrationError, type Calibration, type OffsetView } from '../ingest/calibration.ts';
import type { Audit } from '../security/audit.ts';
import type { DeviceCredentials } from '../security/credentials.ts';
import { flagParam, idParam, limitParam, signedBy, textParam } from './params.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, refusal, schemaOf } from './schemas.ts';

export interface DevicesRoutesOptions {
  registry: DeviceRegistry;
  forget: (device: string, by: string, force?: boolean) => Promise<ForgetOutcome>;
  /** A forgotten device's MQTT password is not revoked with it: the answer says so. */
  credentials: Pick<DeviceCredentials, 'passwordIssuedAt'>;
  calibration: Pick<Calibration, 'of' | 'offset' | 'set'>;
  audit: Audit;
  now: () => number;
}

const offsetView = schemaOf<OffsetView>()(
  z.object({
    offset: z.number().describe('added to what the sensor reports, in the metric’s unit'),
    source: z
      .enum(['configuration', 'operator'])
      .describe('configuration: devices[].calibration in the file; operator: set through the API or the command line'),
    by: z.string().optional().describe('who set it (operator offsets)'),
    at: z.number().optional().describe('when it was set, ms since 1970 (operator offsets)'),
  }),
);

const DEFAULT_PAGE = 500;
const MAX_PAGE = 5000;

const health = z.enum(HEALTH_STATUSES);

export const deviceView = schemaOf<DeviceView>()(
  z.object({
    id: z.string(),
    kind: z.enum(DEVICE_KINDS).nullable(),
    zone: z.string().nullable(),
    position: z.string().nullable().describe('the seat, desk or rack it serves, when declared with one'),
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
    fw: z.string().nullable().describe('firmware version, from the last heartbeat that gave one'),
    battery: z.number().nullable().describe('battery charge, %, from the last heartbeat that gave one'),
    rssi: z.number().nullable().describe('radio signal strength, dBm, from the last heartbeat that gave one'),
    metrics: z.array(z.string()).describe('metrics it has reported'),
  }),
);

type CalibratedDevice = DeviceView & { calibration: Record<string, OffsetView> };

const calibratedDevice = schemaOf<CalibratedDevice>()(
  deviceView.extend({
    calibration: z
      .record(z.string(), offsetView)
      .describe('calibration offsets by metric, such as {"temperature": {"offset": -0.4, "source": "configuration"}}'),
  }),
);

const devicePage = schemaOf<Omit<DevicePage, 'devices'> & { devices: CalibratedDevice[]; unassigned: string[] }>()(
  z
    .object({
      devices: z.array(calibratedDevice).describe('one page, in id order'),
      total: z.number().describe('devices matching the filters, on all pages'),
      next: z.string().nullable().describe('the id to pass as after= for the next page; null on the last'),
      unassigned: z.array(z.string()).describe('the ids on this page that are not declared in the configuration'),
    })
    .describe('a page of devices'),
);

export const devicesRoutes: FastifyPluginAsyncZod<DevicesRoutesOptions> = async (
  app,
  { registry, forget, credentials, calibration, audit, now },
) => {
  const calibrated = (d: DeviceView): CalibratedDevice => ({ ...d, calibration: calibration.of(d.id) });

  app.get(
    '/api/v1/devices',
    {
      schema: {
        summary: `Devices: declared and reporting, with presence and last heartbeat; up to ${MAX_PAGE} a page, in id order`,
        description:
          'Answers {devices, total, next, unassigned}: devices is one page in id order; total counts the devices matching the filters on all pages; ' +
          'next is the id to pass as after= for the next page, null on the last; unassigned lists the ids on this page not declared in the configuration.',
        querystring: z
          .object({
            zone: idParam('zone').optional().describe('only devices in this zone'),
            unzoned: flagParam('unzoned').optional().describe('only devices in no zone (true)'),
            online: flagParam('online').optional().describe('only devices online (true) or offline (false)'),
            match: textParam('match')
              .max(64, { error: 'match must be at most 64 characters' })
              .optional()
              .describe('only devices whose id, kind, zone or position holds this text, in any case'),
            limit: limitParam('limit', MAX_PAGE)
              .optional()
              .describe(`devices per page, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE})`),
            after: idParam('after')
              .optional()
              .describe("a device id: the page starts after it (the previous answer's next)"),
          })
          // Said even when another parameter is wrong too: a zone's devices are never in no zone.
          .superRefine(
            (q, ctx) => {
              if (q.zone !== undefined && q.unzoned === 'true')
                ctx.addIssue({ code: 'custom', message: 'give zone or unzoned=true, not both' });
            },
            { when: () => true },
          ),
        response: { 200: devicePage, 400: BAD_REQUEST, ...ACCESS_REFUSALS },
      },
    },
    async (request) => {
      const { zone, unzoned, online, match, limit = DEFAULT_PAGE, after } = request.query;
      const page = registry.page(now(), {
        limit,
        ...(zone !== undefined && { zone }),
        ...(unzoned === 'true' && { zone: null }),
        ...(online !== undefined && { online: online === 'true' }),
        ...(match !== undefined && { match }),
        ...(after !== undefined && { after }),
      });
      return {
        ...page,
        devices: page.devices.map(calibrated),
        unassigned: page.devices.filter((d) => !d.declared).map((d) => d.id),
      };
    },
  );

  app.get(
    '/api/v1/devices/:id',
    {
      schema: {
        summary: 'One device',
        params: z.object({ id: idParam('id').describe('the device id') }),
        response: {
          200: calibratedDevice.describe('the device'),
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
      return calibrated(device);
    },
  );

  app.post(
    '/api/v1/devices/:id/forget',
    {
      schema: {
        summary:
          'Forget a device that is gone from the floor: {"by": "li.wei"}, and "force": true if it is still shown online',
        description:
          'For a device no one declared that was retired, replaced or taken away: its alerts resolve, it leaves the device list and no longer counts against limits.max_devices. Its stored readings and alert history stay. If it reports again, it is taken on as new: an MQTT password it has is not revoked with it (the answer says so; floorwatch devices revoke). A declared device is forgotten by removing it from the configuration.',
        params: z.object({ id: idParam('id').describe('the device id') }),
        body: z.strictObject(
          {
            by: signedBy('by').describe('who forgets it, up to 100 characters'),
            force: z
              .boolean({ error: 'force must be true or false' })
              .optional()
              .describe('forget it though it is shown online (a device that vanished without a last will)'),
          },
          { error: 'send a JSON object such as {"by": "li.wei"}' },
        ),
        response: {
          200: z.object({ id: z.string(), by: z.string(), message: z.string() }).describe('the device is forgotten'),
          400: BAD_REQUEST,
          404: refusal('no device of this id has reported'),
          409: refusal('the configuration declares this device, or it is online (send "force": true if it is gone)'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { by, force } = request.body;
      const outcome = await forget(id, by, force);
      if (outcome === 'unknown')
        return reply.code(404).send({ error: 'Not Found', message: `no device "${id}" has reported` });
      if (outcome === 'configured')
        return reply.code(409).send({
          error: 'Conflict',
          message: `device "${id}" is declared in the configuration: remove it from devices (or from its serial gateway) in the configuration file and reload`,
        });
      if (outcome === 'online')
        return reply.code(409).send({
          error: 'Conflict',
          message: `device "${id}" is online: forget only a device gone from the floor; if it is gone and still shown online (it left without a last will), send "force": true`,
        });
      audit(request.actor, 'device.forget', { device: id, by, ...(force === true && { force }) });
      return {
        id,
        by,
        message: `${id} is forgotten: its alerts resolve, it leaves the device list and no longer counts against limits.max_devices; its stored readings stay. If it reports again it is taken on as new.${
          credentials.passwordIssuedAt(id) === undefined
            ? ''
            : ` Its MQTT password still lets it connect: "floorwatch devices revoke ${id}" if it must not.`
        }`,
      };
    },
  );

  app.put(
    '/api/v1/devices/:id/calibration/:metric',
    {
      schema: {
        summary: 'Set a calibration offset: {"offset": -0.4, "by": "li.wei"}; offset 0 removes it',
        description:
          'The offset is added to every later reading of the metric from the device, in the metric’s unit (°C, dB, ppm…); the value as reported is kept beside. An offset the configuration file sets is changed there.',
        params: z.object({
          id: idParam('id').describe('the device id'),
          metric: idParam('metric')
            .regex(METRIC_PATTERN, { error: 'metric must be a metric name such as temperature or noise_db' })
            .describe('the metric, such as temperature'),
        }),
        body: z.strictObject(
          {
            offset: z
              .number({ error: 'offset must be a number in the metric’s unit, such as -0.4' })
              .describe('added to each reading; 0 removes the offset'),
            by: signedBy('by').describe('who calibrates, up to 100 characters'),
          },
          { error: 'send a JSON object such as {"offset": -0.4, "by": "li.wei"}' },
        ),
        response: {
          200: calibratedDevice.describe('the device, with its offsets now'),
          400: BAD_REQUEST,
          404: refusal('no device of this id is declared or has reported'),
          409: refusal('the configuration file sets this offset, or as many offsets are kept as allowed'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const { id, metric } = request.params;
      const { offset, by } = request.body;
      const at = now();
      if (!registry.get(id, at))
        return reply.code(404).send({ error: 'Not Found', message: `no device "${id}" is declared or has reported` });
      const before = calibration.offset(id, metric) ?? 0;
      try {
        calibration.set(id, metric, offset, by, at);
      } catch (err) {
        if (!(err instanceof CalibrationError)) throw err;
        return reply
          .code(err.status)
          .send({ error: err.status === 400 ? 'Bad Request' : 'Conflict', message: err.message });
      }
      audit(request.actor, 'device.calibrate', { device: id, metric, offset, before, by });
      // Checked before: the device exists.
      return calibrated(registry.get(id, at)!);
    },
  );
};
