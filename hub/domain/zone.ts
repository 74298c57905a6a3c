// A site's vocabulary for its places and time of year, shared by the configuration, the rules, the
// API and the simulator.

export const ZONE_TYPES = ['call_floor', 'quiet_room', 'server_room'] as const;
export type ZoneType = (typeof ZONE_TYPES)[number];
export type Season = 'winter' | 'summer' | 'transition';
export const SEASONS: readonly Season[] = ['winter', 'summer', 'transition'];
