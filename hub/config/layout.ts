// The floor plan (`layout:`), optional: each zone a rectangle or polygon and each position (seat,
// desk, rack) a point, in metres or whatever unit the plan is drawn in, over an optional exported
// plan image. The floor page draws it; without it the page shows the zone tiles alone.
import { extname } from 'node:path';
import { z } from 'zod';
import { decimal, id, notListed } from './fields.ts';

/** A page draws every position as an element: beyond this a plan is a list, not a drawing. */
export const MAX_LAYOUT_POSITIONS = 10_000;
const MAX_POLYGON_POINTS = 200;
/** Image types a browser draws as a picture; an SVG drawn so runs no script. */
export const BACKGROUND_TYPES = new Map([
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.jpg', 'image/jpeg'],
  ['.jpeg', 'image/jpeg'],
  ['.webp', 'image/webp'],
]);

const coordinate = decimal;
const size = decimal.pipe(
  z.number().positive({ error: 'must be more than 0' }).max(1e6, { error: 'must be at most 1000000' }),
);
const point = z.tuple([coordinate, coordinate], { error: 'must be a point [x, y]' });

const shape = z.union(
  [
    z.strictObject({
      /** x, y of one corner, then width and height. */
      rect: z.tuple([coordinate, coordinate, size, size], { error: 'must be [x, y, width, height]' }),
    }),
    z.strictObject({
      polygon: z
        .array(point)
        .min(3, { error: 'a polygon needs at least 3 points' })
        .max(MAX_POLYGON_POINTS, { error: `a polygon has at most ${MAX_POLYGON_POINTS} points` }),
    }),
  ],
  { error: 'must be { rect: [x, y, width, height] } or { polygon: [[x, y], …] }' },
);

export const layoutSection = z
  .strictObject({
    /** The plan's extent, from 0,0 at its top left corner. */
    width: size,
    height: size,
    /** What one plan unit is, as shown on the page. */
    units: z.string().trim().min(1).max(16).default('m'),
    /** An exported floor plan drawn under the zones, stretched to width × height. */
    background: z
      .string()
      .min(1)
      .refine((file) => BACKGROUND_TYPES.has(extname(file).toLowerCase()), {
        error: `must be an image file: ${[...BACKGROUND_TYPES.keys()].join(', ')}`,
      })
      .optional(),
    zones: z.record(id, shape).default({}),
    positions: z
      .record(id, point)
      .default({})
      .refine((p) => Object.keys(p).length <= MAX_LAYOUT_POSITIONS, {
        error: `at most ${MAX_LAYOUT_POSITIONS} positions`,
      }),
  })
  .optional();

export type LayoutSettings = NonNullable<z.output<typeof layoutSection>>;

/** Every zone drawn is a zone of the file, and every point lies on the plan. */
export function checkLayout(
  cfg: { layout?: LayoutSettings; zones: readonly { id: string }[] },
  ctx: z.core.$RefinementCtx,
): void {
  const layout = cfg.layout;
  if (!layout) return;
  const zoneIds = new Set(cfg.zones.map((z) => z.id));
  const outside = ([x, y]: readonly [number, number]) => x < 0 || y < 0 || x > layout.width || y > layout.height;
  const problem = (path: (string | number)[], message: string, input: unknown) =>
    ctx.addIssue({ code: 'custom', path: ['layout', ...path], message, input });
  const onPlan = `lies outside the plan (0–${layout.width} × 0–${layout.height} ${layout.units})`;
  for (const [zone, drawn] of Object.entries(layout.zones)) {
    if (!zoneIds.has(zone)) problem(['zones', zone], notListed('zone', zone, 'zones', zoneIds), zone);
    const corners: (readonly [number, number])[] =
      'rect' in drawn
        ? [
            [drawn.rect[0], drawn.rect[1]],
            [drawn.rect[0] + drawn.rect[2], drawn.rect[1] + drawn.rect[3]],
          ]
        : drawn.polygon;
    if (corners.some(outside)) problem(['zones', zone], `zone "${zone}" ${onPlan}`, drawn);
  }
  for (const [position, at] of Object.entries(layout.positions))
    if (outside(at)) problem(['positions', position], `position "${position}" ${onPlan}`, at);
}
