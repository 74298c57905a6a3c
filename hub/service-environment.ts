// What the hub asks of the environment of the process that runs it, set before any of its code
// runs: the one list the Docker image, `npm start`, the test hubs and the benchmark are checked
// against or take, and what a hub started without it says at start.
import { getHeapStatistics } from 'node:v8';

/**
 * - `MALLOC_ARENA_MAX`: two malloc arenas rather than one per thread that allocates; under a flood
 *   the hub peaked about 30 MB lower.
 * - `UV_THREADPOOL_SIZE`: libuv's threads serve the journal's writes and also every DNS lookup (a
 *   webhook's, InfluxDB's, a bridge's host) and password hash; lookups hung on a DNS server that
 *   does not answer can take Node's four and hold the journal, every acknowledgement with it.
 * - `NODE_OPTIONS`: left to itself V8 bounds the heap by the machine's memory and, at a bound of
 *   2 GB or more, lets garbage pile up to four times what the hub holds before it collects; just
 *   under, about twice. Node 24 also lets each half of the young generation grow to 64 MB, where
 *   Node 20 stops at 16. With both set the flood's peak stays well under 400 MB on either
 *   (bench/README.md, "the share from the first overloaded moment, and a bound on the heap").
 */
export const SERVICE_ENVIRONMENT = {
  MALLOC_ARENA_MAX: '2',
  UV_THREADPOOL_SIZE: '16',
  NODE_OPTIONS: '--max-old-space-size=2000 --max-semi-space-size=16',
} as const;

const THREAD_POOL_FEWEST = 8;
const THREAD_POOL_MOST = 1024;
const YOUNG_HALF_MOST_MB = 16;

export interface Process {
  env: Record<string, string | undefined>;
  execArgv: string[];
  /** V8's bound on the whole heap, bytes: the old generation's and three halves of the young one. */
  heapLimitBytes: number;
}

const running = (): Process => ({
  env: process.env,
  execArgv: process.execArgv,
  heapLimitBytes: getHeapStatistics().heap_size_limit,
});

/** What the hub tells of an environment that leaves out what it asks for; nothing when it has it. */
export function serviceEnvironmentWarnings(of: Process = running()): string[] {
  return [threadPoolWarning(of.env), heapWarning(of)].filter((w): w is string => w !== undefined);
}

function threadPoolWarning(env: Process['env']): string | undefined {
  // As libuv reads it: unset is four, a value it cannot read (atoi gives 0) is one, and a negative
  // one (read as unsigned) or one past its most is that most.
  const read = Number.parseInt(env.UV_THREADPOOL_SIZE ?? '4', 10) || 1;
  const size = read < 0 || read > THREAD_POOL_MOST ? THREAD_POOL_MOST : read;
  if (size >= THREAD_POOL_FEWEST) return undefined;
  return `the hub runs with ${size} ${size === 1 ? 'thread' : 'threads'} for disk writes and DNS lookups (UV_THREADPOOL_SIZE): a DNS server that does not answer can hold the journal, and with it every reading; set UV_THREADPOOL_SIZE=${SERVICE_ENVIRONMENT.UV_THREADPOOL_SIZE} in the environment that starts the hub`;
}

function heapWarning({ env, execArgv, heapLimitBytes }: Process): string | undefined {
  const limitMb = Math.round(heapLimitBytes / 2 ** 20);
  const set = `set NODE_OPTIONS to ${SERVICE_ENVIRONMENT.NODE_OPTIONS} in the environment that starts the hub`;
  const oldMb = lastFlag([...(env.NODE_OPTIONS ?? '').split(/\s+/), ...execArgv], 'max-old-space-size');
  if (oldMb === undefined)
    return `the hub's JavaScript heap is bounded only by this machine's memory (${limitMb} MB), and V8 then lets garbage pile up to several times what the hub holds before it collects: under a flood, tens of MB more at the peak; ${set}`;
  // The rest of the bound is the young generation's: its two halves and as much again for large objects.
  const youngHalfMb = Math.round((limitMb - oldMb) / 3);
  if (!(youngHalfMb > YOUNG_HALF_MOST_MB)) return undefined;
  return `V8 may let each half of the hub's young generation grow to ${youngHalfMb} MB (Node 20 stops at ${YOUNG_HALF_MOST_MB}): under a flood, about 100 MB more at the peak; ${set}`;
}

/** A flag's value, in MB, as node takes it: the command line after NODE_OPTIONS, the last one given. */
function lastFlag(flags: string[], name: string): number | undefined {
  const pattern = new RegExp(`^--${name.replaceAll('-', '[-_]')}=(.*)$`);
  const values = flags.map((flag) => pattern.exec(flag)?.[1]).filter((v) => v !== undefined);
  return values.length === 0 ? undefined : Number(values.at(-1));
}
