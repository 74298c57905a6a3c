import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestError, RuleRequests, type RequestKind } from '../hub/cluster/requests.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

let server: RedisHandle;
const connections: Redis[] = [];

function connect(): Redis {
  const c = new Redis(server.url, { keyPrefix: 'fw:' });
  connections.push(c);
  return c;
}

function hub(node: string, timeoutMs = 5000): RuleRequests {
  return new RuleRequests({ redis: connect(), subscriber: connect(), prefix: 'fw', node, timeoutMs });
}

/** The leader's loop, until `done` settles. */
async function lead(
  leader: RuleRequests,
  handle: (kind: RequestKind, args: unknown[]) => Promise<unknown>,
  done: Promise<unknown>,
) {
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    if ((await leader.serve(handle)) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  for (const c of connections) c.disconnect();
  await server.dispose();
});

describe("an operator's change made on any hub", () => {
  it("reaches the leader and comes back with its answer, or with its refusal's status", async () => {
    const asker = hub('node-b');
    const leader = hub('node-a');
    const seen: Array<[RequestKind, unknown[]]> = [];
    const handle = (kind: RequestKind, args: unknown[]) => {
      seen.push([kind, args]);
      if (args[0] === 99) return Promise.reject(Object.assign(new Error('no alert 99'), { statusCode: 404 }));
      return Promise.resolve({ id: args[0], acked: true });
    };
    const answered = asker.ask('ack', [7, 'ops']);
    await lead(leader, handle, answered);
    expect(await answered).toEqual({ id: 7, acked: true });
    const refused = asker.ask('ack', [99, 'ops']);
    await lead(leader, handle, refused);
    await expect(refused).rejects.toMatchObject({ statusCode: 404, message: 'no alert 99' });
    expect(seen).toEqual([
      ['ack', [7, 'ops']],
      ['ack', [99, 'ops']],
    ]);
  });

  it('is refused with 503 when no leader answers in time', async () => {
    const asker = hub('node-c', 100);
    const err = await asker.ask('removeSilence', [1]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).statusCode).toBe(503);
    expect((err as RequestError).message).toContain('no rules leader answered');
  });
});
