// The simulated floor as the hub should know it: what a floorwatch.yaml declares for this fleet,
// so a test or demo hub judges the floor it is given.
import type { Fleet } from './fleet.ts';

/**
 * The zones, devices and serial ports a hub should declare (floorwatch.yaml `zones`, `devices` and
 * `serial`) for this fleet. A gateway's port exists only once its pty pair does, so the hub end of
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
        heartbeat_interval: `${d.heartbeat_interval}ms`,
      })),
    ],
    ...(serial.length > 0 && { serial }),
  };
}
