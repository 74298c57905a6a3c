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

/** Why this principal may not publish to this topic; undefined when it may. */
export function publishProblem(principal: Principal, prefix: string, topic: string): string | undefined {
  if (topic.includes('+') || topic.includes('#')) return `"${topic}" has a wildcard; a message goes to one exact topic`;
  if (topic.startsWith('$')) return `"${topic}" is reserved for the broker (read-only)`;
  if (principal.kind === 'anonymous') return undefined;
  if (principal.kind === 'device') {
    const own = `${prefix}/devices/${principal.id}/`;
    const command = commandTopic(prefix, principal.id);
    if (!topic.startsWith(own)) return `device ${principal.id} may publish only under ${own}…`;
    if (topic === command || topic.startsWith(`${command}/`)) return `device ${principal.id} may not publish on its own command topic`;
    return undefined;
  }
  // Commands to a device are the one thing an operator or admin sends; readings come from devices.
  const levels = topic.split('/');
  const isCommand = levels.length >= 4 && levels[0] === prefix && levels[1] === 'devices' && levels[3] === 'command';
  const commands = roleAllows(principal.role, 'operator');
  if (isCommand && commands) return undefined;
  return `${principal.role} ${principal.name} may not publish to "${topic}"; readings come only from devices${commands ? ` (operators may send to ${prefix}/devices/{id}/command)` : ''}`;
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
