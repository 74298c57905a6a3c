// The hub's parts in the order they started: each says how it stops and, if it has one, its health
// check and the gauges it keeps current. Stopping runs the parts in reverse, so nothing stops
// before what depends on it; a start that fails half way stops what had started.
import type { Logger } from 'pino';
import type { HealthReport } from '../api/health.ts';
import type { ConfigChanges } from '../config/changes.ts';
import type { Config } from '../config/config.ts';
import { within } from '../domain/deadline.ts';

export type Check = HealthReport['checks'][string];

export interface PartHealth {
  /** down: the hub cannot do its job; degraded: it does, with something to look at. */
  condition: 'ok' | 'degraded' | 'down';
  check: Check;
}

export interface Part {
  name: string;
  stop?: () => Promise<void> | void;
  /** A check in GET /api/v1/health, under the part's name. */
  health?: () => Promise<PartHealth> | PartHealth;
  /** Brings the part's gauges up to date before /metrics is read. */
  refreshGauges?: () => void;
  /**
   * Readies the part for a reloaded configuration: throws (a ConfigError) when it cannot take it
   * on, else returns what applies it. Every part is readied before any applies.
   */
  reconfigure?: (next: Config, changes: ConfigChanges) => () => void;
}

/**
 * How long one part may take to stop before the rest stop without it. Long enough for the store
 * writer to roll up what waits and a notifier to finish a delivery; a part still at it by then (a
 * downstream that never answers) must not keep the journal from closing. What such a part held
 * is handed over again at the next start.
 */
export const STOP_LIMIT_MS = 10_000;

export class Lifecycle {
  private readonly parts: Part[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly stopLimitMs = STOP_LIMIT_MS,
  ) {}

  add(part: Part): void {
    this.parts.push(part);
  }

  /**
   * Stops every part, last started first; a part that fails to stop, or has not stopped within
   * the limit, is logged and the rest still stop. Once.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of [...this.parts].reverse()) {
        try {
          if (!(await within(Promise.resolve(part.stop?.()), this.stopLimitMs))) {
            this.log.error(
              { part: part.name, limitMs: this.stopLimitMs },
              `${part.name} did not stop within ${this.stopLimitMs / 1000} s; stopping the rest without waiting for it`,
            );
          }
        } catch (err) {
          this.log.error(
            { part: part.name, err: (err as Error).message },
            `could not stop ${part.name} cleanly: ${(err as Error).message}`,
          );
        }
      }
    })();
    return this.stopping;
  }

  /**
   * Takes a reloaded configuration on in every part, or (when one part cannot ready it) in none.
   * A part that fails while applying (its disk full, say) does not stop the others: what failed is
   * returned, one line per part.
   */
  reconfigure(next: Config, changes: ConfigChanges): string[] {
    const apply = this.parts.flatMap((part) => {
      const a = part.reconfigure?.(next, changes);
      return a ? [{ part: part.name, apply: a }] : [];
    });
    const failed: string[] = [];
    for (const { part, apply: a } of apply) {
      try {
        a();
      } catch (err) {
        failed.push(`${part} could not take the new configuration on: ${(err as Error).message}`);
      }
    }
    return failed;
  }

  async health(): Promise<HealthReport> {
    const checks: HealthReport['checks'] = {};
    let status: HealthReport['status'] = 'ok';
    for (const part of this.parts) {
      if (!part.health) continue;
      const { condition, check } = await part.health();
      checks[part.name] = check;
      if (condition === 'down' || (condition === 'degraded' && status === 'ok')) status = condition;
    }
    return { status, checks };
  }

  refreshGauges(): void {
    for (const part of this.parts) part.refreshGauges?.();
  }
}
