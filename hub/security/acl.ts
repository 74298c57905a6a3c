// Who may publish and subscribe where on the broker. Pure: a principal, a topic, a verdict.
import { roleAllows, type Role } from './tokens.ts';

export type Principal =
  /** No credentials: on loopback while none are configured, or anywhere with allow_anonymous. */
  | { kind: 'anonymous' }
  /** Logged in as a device (password or certificate): its own topics only. */
  | { kind: 'device'; id: string }
  /** An integration or operator logged in with an API token: reads the floor, never publishes readings. */
  | { kind: 'integration'; name: string; role: Role };

export function describePrincipal(p: Principal): string {
  if (p.kind === 'device') return `device ${p.id}`;
  if (p.kind === 'integration') return `${p.role} ${p.name}`;
  return 'an anonymous client';
}

/** The topic a device listens on for commands. */
export function commandTopic(prefix: string, device: string): string {
  return `${prefix}/devices/${device}/command`;
}

/** What a device publishes: the contract's topics, nothing else under its id. */
const DEVICE_TOPICS = new Set(['telemetry', 'heartbeat', 'status']);

/**
 * Why this principal may not publish to this topic; undefined when it may. Under the prefix only
 * the contract's topics exist: a device's telemetry, heartbeat and status, and the commands
 * operators send; everything else there is the hub's own (alerts, gateway and hub status), so no
 * client writes it. Outside the prefix only an anonymous client on an open broker may publish.
 */
export function publishProblem(principal: Principal, prefix: string, topic: string): string | undefined {
  if (topic.includes('+') || topic.includes('#')) return `"${topic}" has a wildcard; a message goes to one exact topic`;
  // Other $ topics are ordinary ones that wildcards at the first level do not match [MQTT-4.7.2-1].
  if (topic === '$SYS' || topic.startsWith('$SYS/')) return `"${topic}" is reserved for the broker (read-only)`;
  const levels = topic.split('/');
  const underPrefix = levels[0] === prefix;
  const isDeviceTopic =
    underPrefix && levels.length === 4 && levels[1] === 'devices' && DEVICE_TOPICS.has(levels[3] ?? '');
  const isCommand = underPrefix && levels.length >= 4 && levels[1] === 'devices' && levels[3] === 'command';
  if (underPrefix && !isDeviceTopic && !isCommand) {
    return `"${topic.slice(0, 200)}" is not a topic a client publishes: under ${prefix}/ there are only ${prefix}/devices/{id}/telemetry, heartbeat and status, and commands; the rest is the hub's own`;
  }
  if (principal.kind === 'anonymous') return undefined;
  if (principal.kind === 'device') {
    if (!isDeviceTopic || levels[2] !== principal.id)
      return `device ${principal.id} may publish only to ${prefix}/devices/${principal.id}/telemetry, heartbeat or status`;
    return undefined;
  }
  // Commands to a device are the one thing an operator or admin sends; readings come from devices.
  const commands = roleAllows(principal.role, 'operator');
  if (isCommand && commands) return undefined;
  return `${principal.role} ${principal.name} may not publish to "${topic}"; readings come only from devices${commands ? ` (operators may send to ${prefix}/devices/{id}/command)` : ''}`;
}

/**
 * Whether a message on this topic may stay in the broker as a retained message. Under the prefix
 * only a device's status (its birth, and its last will) is retained, as the contract says;
 * readings and commands are never replayed to a later subscriber as if they were new.
 */
export function mayRetain(prefix: string, topic: string): boolean {
  const levels = topic.split('/');
  if (levels[0] !== prefix) return true;
  return levels.length === 4 && levels[1] === 'devices' && levels[3] === 'status';
}

/** Why this principal may not subscribe to this filter; undefined when it may. */
export function subscribeProblem(principal: Principal, prefix: string, filter: string): string | undefined {
  if (principal.kind === 'anonymous') return undefined;
  if (principal.kind === 'device') {
    const command = commandTopic(prefix, principal.id);
    if (filter === command || filter.startsWith(`${command}/`)) return undefined;
    return `device ${principal.id} may subscribe only to ${command}`;
  }
  if (!roleAllows(principal.role, 'viewer')) return `${principal.role} ${principal.name} may not read the floor`;
  const first = filter.split('/')[0];
  if (first === prefix || first === '$SYS') return undefined;
  return `${principal.role} ${principal.name} may subscribe only under ${prefix}/ or $SYS/`;
}
