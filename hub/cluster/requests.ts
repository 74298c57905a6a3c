// An operator's change to alert state (acknowledge, silence) made on any hub reaches the rules
// leader through Redis: a request in a list the leader takes from, an answer on a channel of the
// asking hub's own. The leader answers once the change is in Redis (state-mirror.ts). No answer in
// time (no leader, Redis away) is an error saying so; the request may still be carried out later,
// which for an acknowledgement or a silence is what the operator asked for.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Silence } from '../domain/alert.ts';
import { jsonObject } from '../domain/json-text.ts';

export type RequestKind = 'ack' | 'addSilence' | 'removeSilence';

/** What the leader carries a request out on: its rule engine. */
export interface RequestTarget {
  ack(id: number, by: string, comment?: string): unknown;
  addSilence(silence: Omit<Silence, 'id' | 'createdAt'>): unknown;
  removeSilence(id: number): unknown;
}

/** Carries a request out; what it returns is the answer. */
export function carryOut(target: RequestTarget, kind: RequestKind, args: unknown[]): unknown {
  // JSON has no undefined: a comment not given arrives as null.
  if (kind === 'ack') return target.ack(args[0] as number, args[1] as string, (args[2] as string | null) ?? undefined);
  if (kind === 'addSilence') return target.addSilence(args[0] as Omit<Silence, 'id' | 'createdAt'>);
  return target.removeSilence(args[0] as number);
}
const KINDS: ReadonlySet<unknown> = new Set<RequestKind>(['ack', 'addSilence', 'removeSilence']);

interface Request {
  id: string;
  node: string;
  kind: RequestKind;
  args: unknown[];
}

interface Answer {
  id: string;
  value?: unknown;
  error?: { message: string; statusCode?: number };
}

/** A change refused, by the leader (no such alert) or because no leader answered. */
export class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

const REQUESTS_KEY = 'rules:requests';
/** Requests taken at once by the leader. */
const TAKE = 20;

export interface RuleRequestsOptions {
  /** Commands, keys under the cluster's prefix. */
  redis: Redis;
  /** A connection of its own for the answers (a subscribed connection takes no commands). */
  subscriber: Redis;
  /** Channels are not prefixed by Redis: the cluster's prefix. */
  prefix: string;
  node: string;
  /** How long a hub waits for the leader's answer. Default 5000. */
  timeoutMs?: number;
}

export class RuleRequests {
  private readonly waiting = new Map<string, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly channel: string;
  private subscribed: Promise<unknown> | undefined;

  constructor(private readonly options: RuleRequestsOptions) {
    this.channel = answersChannel(options.prefix, options.node);
    options.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      // An answer that is not one answers no one.
      const answer = jsonObject(message) as Partial<Answer> | undefined;
      if (typeof answer?.id !== 'string') return;
      const waiter = this.waiting.get(answer.id);
      if (!waiter) return;
      this.waiting.delete(answer.id);
      if (answer.error) waiter.reject(new RequestError(answer.error.statusCode ?? 500, answer.error.message));
      else waiter.resolve(answer.value);
    });
  }

  /** Asks the leader for a change and waits for its answer. */
  async ask(kind: RequestKind, args: unknown[]): Promise<unknown> {
    const { redis, subscriber, node } = this.options;
    await (this.subscribed ??= subscriber.subscribe(this.channel));
    const id = randomUUID();
    const timeoutMs = this.options.timeoutMs ?? 5000;
    const answered = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(
          new RequestError(
            503,
            `no rules leader answered within ${timeoutMs / 1000} s (a leader is being elected, or Redis is unreachable); the change may still be made — check before trying again`,
          ),
        );
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    try {
      await redis.rpush(REQUESTS_KEY, JSON.stringify({ id, node, kind, args } satisfies Request));
    } catch (err) {
      this.waiting.get(id)?.reject(new RequestError(503, `Redis is unreachable: ${(err as Error).message}`));
    }
    return answered;
  }

  /** The leader: carries out waiting requests with `handle` and answers each. Returns how many. */
  async serve(handle: (kind: RequestKind, args: unknown[]) => Promise<unknown>): Promise<number> {
    const { redis, prefix } = this.options;
    const taken = (await redis.lpop(REQUESTS_KEY, TAKE)) ?? [];
    for (const text of taken) {
      const request = jsonObject(text) as Partial<Request> | undefined;
      // A request that is not one has no one to answer: its asker's wait runs out.
      if (
        typeof request?.id !== 'string' ||
        typeof request.node !== 'string' ||
        !KINDS.has(request.kind) ||
        !Array.isArray(request.args)
      )
        continue;
      const { id, node, kind, args } = request as Request;
      let answer: Answer;
      try {
        answer = { id, value: (await handle(kind, args)) ?? null };
      } catch (err) {
        const { message, statusCode } = err as { message: string; statusCode?: number };
        answer = { id, error: { message, ...(statusCode !== undefined && { statusCode }) } };
      }
      await redis.publish(answersChannel(prefix, node), JSON.stringify(answer));
    }
    return taken.length;
  }

  close(): void {
    for (const waiter of this.waiting.values()) waiter.reject(new RequestError(503, 'this hub is stopping'));
    this.waiting.clear();
  }
}

function answersChannel(prefix: string, node: string): string {
  return `${prefix}:rules:answers:${node}`;
}
