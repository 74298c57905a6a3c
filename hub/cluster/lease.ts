// Who runs the rules in a cluster: the node holding a lease in Redis. Each grant of the lease is a
// term with a fencing token, one higher than the last; a write made for the rules names its term,
// and Redis refuses it once a later term has begun, so a leader that was paused or cut off past its
// lease cannot overwrite its successor's work (a lease alone cannot promise that).
// The holder steps down on its own clock before Redis could expire the lease: from the moment it
// sent the grant or renewal, not from when the answer came.
import type { Redis } from 'ioredis';
import type { Timers } from '../domain/timers.ts';

export interface LeaseClock extends Timers {
  /** Monotonic milliseconds. */
  now(): number;
}

export interface LeaseOptions {
  redis: Redis;
  /** This node's name, as health and the logs show it. */
  node: string;
  /** How long a grant or renewal holds. Default 5000. */
  ttlMs?: number;
  /** Held for less than the lease by this much, for clock drift and a busy event loop. Default ttl/5. */
  marginMs?: number;
  clock: LeaseClock;
  /** This node now runs the rules, for the term `token`. */
  onElected(token: number): void;
  /** This node no longer does; `reason` says why, in words for the log. */
  onDeposed(reason: string): void;
  /** A failed attempt to reach Redis, for the log (the lease keeps trying). */
  onError?(err: unknown): void;
}

const LEASE_KEY = 'rules:lease';
const TERM_KEY = 'rules:term';

// The holder is stored as "node:token", so a renewal names the term it renews.
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** The Lua that a fenced write starts with: it stops with "fenced" when `token` is not the latest term. */
export const FENCE_CHECK = `
if tonumber(redis.call('GET', KEYS[1])) ~= tonumber(ARGV[1]) then return redis.error_reply('fenced: a later rules term has begun') end`;
/** The key FENCE_CHECK reads as KEYS[1]. */
export const FENCE_KEY = TERM_KEY;

interface LeaseCommands {
  leaseAcquire(lease: string, term: string, node: string, ttlMs: number): Promise<number | null>;
  leaseRenew(lease: string, holder: string, ttlMs: number): Promise<number>;
  leaseRelease(lease: string, holder: string): Promise<number>;
}

export class RulesLease {
  private readonly ttlMs: number;
  private readonly marginMs: number;
  private readonly commands: LeaseCommands;
  private term: { token: number; holder: string; until: number } | undefined;
  private timer: unknown;
  private deadline: unknown;
  private stopped = false;
  /** Until then this node asks for no lease (resign()). */
  private pausedUntil = -Infinity;

  constructor(private readonly options: LeaseOptions) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.marginMs = options.marginMs ?? Math.round(this.ttlMs / 5);
    if (!(this.marginMs >= 0 && this.marginMs < this.ttlMs))
      throw new Error(`the lease margin (${this.marginMs} ms) must be less than the lease (${this.ttlMs} ms)`);
    const { redis } = options;
    redis.defineCommand('leaseAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('leaseRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('leaseRelease', { numberOfKeys: 1, lua: RELEASE });
    this.commands = redis as unknown as LeaseCommands;
  }

  /** The term this node leads, while it holds the lease by its own clock. */
  get token(): number | undefined {
    return this.term && this.options.clock.now() < this.term.until ? this.term.token : undefined;
  }

  start(): void {
    void this.attempt();
  }

  /** Stops trying; a held lease is given up at once, so another node need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.options.clock.clearTimeout(this.timer);
    await this.giveUp('this node is stopping');
  }

  /**
   * Gives up the lease of term `token`, if still held, and asks for none for `pauseMs`: a term that
   * could not start must not keep the lease, renewed with no rules running, nor be taken straight
   * back by this node while another might start one.
   */
  async resign(token: number, reason: string, pauseMs: number): Promise<void> {
    if (this.term?.token !== token) return;
    this.pausedUntil = this.options.clock.now() + pauseMs;
    await this.giveUp(reason);
  }

  private async giveUp(reason: string): Promise<void> {
    const term = this.term;
    if (!term) return;
    this.depose(reason);
    await this.commands.leaseRelease(LEASE_KEY, term.holder).catch((err: unknown) => this.options.onError?.(err));
  }

  private async attempt(): Promise<void> {
    const sentAt = this.options.clock.now();
    const term = this.term;
    try {
      if (term) this.renewed(term, (await this.commands.leaseRenew(LEASE_KEY, term.holder, this.ttlMs)) === 1, sentAt);
      else if (sentAt >= this.pausedUntil)
        this.acquired(await this.commands.leaseAcquire(LEASE_KEY, TERM_KEY, this.options.node, this.ttlMs), sentAt);
    } catch (err) {
      this.options.onError?.(err);
    }
    if (!this.stopped)
      this.timer = this.options.clock.setTimeout(() => void this.attempt(), Math.round(this.ttlMs / 3));
  }

  private acquired(token: number | null, sentAt: number): void {
    if (this.stopped || token === null) return;
    this.hold(token, `${this.options.node}:${token}`, sentAt);
    this.options.onElected(token);
  }

  private renewed(term: { token: number; holder: string }, renewed: boolean, sentAt: number): void {
    // The term may have ended while the renewal was on its way (stop(), the deadline).
    if (this.stopped || this.term !== term) return;
    if (renewed) this.hold(term.token, term.holder, sentAt);
    else this.depose('another node holds the rules lease');
  }

  private hold(token: number, holder: string, sentAt: number): void {
    const { clock } = this.options;
    const until = sentAt + this.ttlMs - this.marginMs;
    this.term = { token, holder, until };
    clock.clearTimeout(this.deadline);
    this.deadline = clock.setTimeout(
      () => this.depose('the rules lease could not be renewed in time (Redis unreachable or slow)'),
      Math.max(0, until - clock.now()),
    );
  }

  private depose(reason: string): void {
    if (!this.term) return;
    this.term = undefined;
    this.options.clock.clearTimeout(this.deadline);
    this.options.onDeposed(reason);
  }
}
