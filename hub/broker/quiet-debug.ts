// mqtt-packet, the parser and writer under Aedes and mqtt.js, calls `debug` about a dozen times
// for every packet, and the `debug` package builds an array of the call's arguments before it
// looks whether its namespace is on: a quarter of all the hub allocated per reading, for logging
// that is off. Loaded before Aedes and mqtt.js, this module has `debug` hand out a function that
// does nothing for a namespace that DEBUG does not name when the hub starts. DEBUG still works
// as documented for what it names at start; `debug.enable()` later does not reach a silenced one.
// That `debug` is the one copy the hub's packages share, so mqtt.js's namespaces are silenced the
// same way; ioredis takes the module's `.default`, the real function, and keeps its own checks.
import { createRequire } from 'node:module';

interface CreateDebug {
  (namespace: string): unknown;
  enabled(namespace: string): boolean;
}

interface Silent {
  (): void;
  readonly enabled: false;
  readonly namespace: string;
  extend(sub: string, delimiter?: string): unknown;
  destroy(): boolean;
}

/** Namespaces handed a silent function, for the test that shows mqtt-packet's are among them. */
export const silenced = new Set<string>();

// The `debug` mqtt-packet itself resolves, under Aedes: the one whose calls are made per packet.
const fromHub = createRequire(import.meta.url);
const fromPacket = createRequire(createRequire(fromHub.resolve('aedes')).resolve('mqtt-packet'));
const path = fromPacket.resolve('debug');
const real = fromPacket('debug') as CreateDebug;

function create(namespace: string): unknown {
  if (real.enabled(namespace)) return real(namespace);
  silenced.add(namespace);
  const silent: Silent = Object.assign(() => {}, {
    enabled: false as const,
    namespace,
    extend: (sub: string, delimiter = ':') => create(`${namespace}${delimiter}${sub}`),
    destroy: () => false,
  });
  return silent;
}

// The module's other properties (enable, disable, formatters…) stay the real ones.
const cached = fromPacket.cache[path];
if (cached) cached.exports = Object.assign(create, real);
