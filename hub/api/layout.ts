// GET /api/v1/layout: the floor plan (`layout:` in floorwatch.yaml) with each position's
// equipment state, for the floor page to draw; GET /api/v1/layout/background: the plan image
// under it. A zone's colour comes from GET /api/v1/zones, the page's other source, so the plan
// and the tiles never disagree.
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BACKGROUND_TYPES, type LayoutSettings } from '../config/layout.ts';
import type { DeviceView } from '../devices/registry.ts';
import { DEVICE_KINDS } from '../domain/reading.ts';
import { ACCESS_REFUSALS, refusal } from './schemas.ts';

/** The plan as the hub runs it: its settings and the image read from `background`, or why none is shown. */
export interface FloorPlan {
  settings: LayoutSettings;
  background: { bytes: Buffer; type: string } | { problem: string } | undefined;
}

/** A plan image larger than this is refused: the page fetches it at every load. */
export const MAX_BACKGROUND_BYTES = 5 * 1024 * 1024;

/**
 * The plan with its image read now (at start and at each reload). An image that cannot be shown
 * is said why, in the log and to the page, and the plan is drawn without it.
 */
export function readFloorPlan(
  settings: LayoutSettings | undefined,
  log: Pick<FastifyBaseLogger, 'warn'>,
): FloorPlan | undefined {
  if (!settings) return undefined;
  const file = settings.background;
  if (file === undefined) return { settings, background: undefined };
  let problem: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) problem = `the plan image ${file} is not a file`;
    else if (stat.size > MAX_BACKGROUND_BYTES)
      problem = `the plan image ${file} is ${Math.ceil(stat.size / 1024)} KiB, more than the ${MAX_BACKGROUND_BYTES / 1024 / 1024} MiB a page should fetch: export it smaller`;
    else
      return {
        settings,
        background: { bytes: readFileSync(file), type: BACKGROUND_TYPES.get(extname(file).toLowerCase()) ?? '' },
      };
  } catch (err) {
    problem = `the plan image ${file} cannot be read: ${(err as Error).message}`;
  }
  log.warn({ file }, `floor plan drawn without its image: ${problem}`);
  return { settings, background: { problem } };
}

const POSITION_STATES = ['ok', 'fault', 'offline', 'empty'] as const;
type PositionState = (typeof POSITION_STATES)[number];

/** The worst of a position's devices: one offline or at fault is what someone walking the floor goes to see. */
export function positionState(devices: readonly Pick<DeviceView, 'online' | 'status'>[]): PositionState {
  if (devices.length === 0) return 'empty';
  if (devices.some((d) => !d.online)) return 'offline';
  if (devices.some((d) => d.status === 'fault' || d.status === 'degraded')) return 'fault';
  return 'ok';
}

const point = z.tuple([z.number(), z.number()]);
const layoutView = z.object({
  width: z.number(),
  height: z.number(),
  units: z.string().describe('what one plan unit is, such as m'),
  background: z
    .object({ url: z.string().nullable(), problem: z.string().nullable() })
    .nullable()
    .describe('the plan image: where to fetch it, or why it cannot be shown; null when none is configured'),
  zones: z.array(
    z.object({
      zone: z.string(),
      rect: z.tuple([z.number(), z.number(), z.number(), z.number()]).nullable().describe('x, y, width, height'),
      polygon: z.array(point).nullable(),
    }),
  ),
  positions: z.array(
    z.object({
      position: z.string(),
      x: z.number(),
      y: z.number(),
      state: z
        .enum(POSITION_STATES)
        .describe('offline: a device there is offline; fault: one reports a fault; empty: no device is declared there'),
      devices: z.array(
        z.object({
          id: z.string(),
          kind: z.enum(DEVICE_KINDS).nullable(),
          online: z.boolean(),
          status: z.enum(['ok', 'degraded', 'fault']).nullable(),
        }),
      ),
    }),
  ),
});

export interface LayoutRoutesOptions {
  plan: () => FloorPlan | undefined;
  /** The declared devices at each of these positions. */
  devicesAt: (positions: ReadonlySet<string>, now: number) => ReadonlyMap<string, readonly DeviceView[]>;
  now: () => number;
}

export const layoutRoutes: FastifyPluginAsyncZod<LayoutRoutesOptions> = async (app, { plan, devicesAt, now }) => {
  app.get(
    '/api/v1/layout',
    {
      schema: {
        summary: 'The floor plan: zones as shapes, positions as points with the state of their equipment',
        response: {
          200: z
            .object({ layout: layoutView.nullable() })
            .describe('the plan, or null when floorwatch.yaml has no layout: section'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async () => {
      const current = plan();
      if (!current) return { layout: null };
      const { settings, background } = current;
      const positions = Object.entries(settings.positions);
      const at = devicesAt(new Set(positions.map(([p]) => p)), now());
      return {
        layout: {
          width: settings.width,
          height: settings.height,
          units: settings.units,
          background:
            background === undefined
              ? null
              : 'problem' in background
                ? { url: null, problem: background.problem }
                : { url: '/api/v1/layout/background', problem: null },
          zones: Object.entries(settings.zones).map(([zone, shape]) => ({
            zone,
            rect: 'rect' in shape ? shape.rect : null,
            polygon: 'polygon' in shape ? shape.polygon : null,
          })),
          positions: positions.map(([position, [x, y]]) => {
            const devices = at.get(position) ?? [];
            return {
              position,
              x,
              y,
              state: positionState(devices),
              devices: devices.map((d) => ({ id: d.id, kind: d.kind, online: d.online, status: d.status })),
            };
          }),
        },
      };
    },
  );

  app.get(
    '/api/v1/layout/background',
    {
      schema: {
        summary: 'The floor plan image named by layout.background',
        response: {
          200: z.any().describe('the image, as its file type'),
          404: refusal('no plan image is configured, or it could not be read (GET /api/v1/layout says why)'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (_request, reply) => {
      const background = plan()?.background;
      if (!background || 'problem' in background)
        return reply.code(404).send({
          error: 'Not Found',
          message: background?.problem ?? 'no plan image: set layout.background in floorwatch.yaml',
        });
      // An SVG opened on its own runs no script and loads nothing.
      return reply
        .header('content-type', background.type)
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .send(background.bytes);
    },
  );
};
