// The simulated floor as the hub should know it: what a floorwatch.yaml declares for this fleet,
// so a test or demo hub judges the floor it is given.
import type { Fleet } from './fleet.ts';

/** Metres between seats (or racks) on the drawn plan, and seats to a row. */
const PITCH = 2;
const PER_ROW = 6;

/** The slot of a device in its zone: its number (hs-a7 sits at seat 7), when the zone has that seat. */
function slotOf(id: string): number | undefined {
  const n = /(\d+)$/.exec(id)?.[1];
  return n === undefined ? undefined : Number(n);
}

/**
 * A floor plan for the fleet: its zones side by side, each a rectangle holding its seats (racks in
 * a server room) in rows, and each device that ends in a seat's number placed at that seat.
 */
function floorPlan(fleet: Fleet): { layout: Record<string, unknown>; positionOf: Map<string, string> } {
  const zones: Record<string, [number, number, number, number]> = {};
  const positions: Record<string, [number, number]> = {};
  const positionOf = new Map<string, string>();
  let x = 0;
  let height = 0;
  for (const zone of fleet.zones) {
    const mine = fleet.devices.filter((d) => d.zone === zone.id);
    const slots = Math.max(zone.seats, ...mine.map((d) => slotOf(d.id) ?? 0), 1);
    const columns = Math.min(PER_ROW, slots);
    const rows = Math.ceil(slots / columns);
    const [w, h] = [columns * PITCH + PITCH, rows * PITCH + PITCH];
    zones[zone.id] = [x, 0, w, h];
    for (let n = 1; n <= slots; n++)
      positions[`${zone.id}-${n}`] = [
        x + PITCH + ((n - 1) % columns) * PITCH,
        PITCH + Math.floor((n - 1) / columns) * PITCH,
      ];
    for (const d of mine) {
      const n = slotOf(d.id);
      if (n !== undefined && n >= 1) positionOf.set(d.id, `${zone.id}-${n}`);
    }
    x += w;
    height = Math.max(height, h);
  }
  return {
    layout: {
      width: x,
      height,
      zones: Object.fromEntries(Object.entries(zones).map(([id, rect]) => [id, { rect }])),
      positions,
    },
    positionOf,
  };
}

/**
 * The zones, devices, serial ports and floor plan a hub should declare (floorwatch.yaml `zones`,
 * `devices`, `serial` and `layout`) for this fleet. A gateway's port exists only once its pty pair does, so the hub end of
 * each gateway's line is given here (startGatewayLines in floor.ts).
 */
export function hubDeclarations(
  fleet: Fleet,
  lines: ReadonlyMap<string, { hubPath: string }> = new Map(),
): {
  site: { season: string };
  zones: Array<Record<string, string>>;
  devices: Array<Record<string, string>>;
  serial?: Array<Record<string, unknown>>;
  layout?: Record<string, unknown>;
} {
  const serial = fleet.gateways.map((g) => {
    const line = lines.get(g.id);
    if (!line) throw new Error(`gateway ${g.id} has no serial line: start the fleet's lines first`);
    return {
      path: line.hubPath,
      gateway: g.id,
      alive_interval: `${g.alive_interval}ms`,
      devices: Object.fromEntries(g.sensors.map((s) => [s.device, s.zone ?? g.zone])),
    };
  });
  const plan = fleet.zones.length > 0 ? floorPlan(fleet) : undefined;
  return {
    // The hub judges the floor by the season the floor is simulated in.
    site: { season: fleet.site.season === 'auto' ? 'calendar' : fleet.site.season },
    zones: fleet.zones.map((z) => ({ id: z.id, type: z.type, ...(z.name !== undefined && { name: z.name }) })),
    devices: [
      ...fleet.sensors.map((s) => ({
        id: s.id,
        kind: 'sensor',
        zone: s.zone,
        heartbeat_interval: `${s.heartbeat_interval}ms`,
      })),
      ...fleet.devices.map((d) => ({
        id: d.id,
        kind: d.kind,
        ...(d.zone !== undefined && { zone: d.zone }),
        ...(plan?.positionOf.has(d.id) && { position: plan.positionOf.get(d.id) }),
        heartbeat_interval: `${d.heartbeat_interval}ms`,
      })),
    ],
    ...(serial.length > 0 && { serial }),
    ...(plan && { layout: plan.layout }),
  };
}
