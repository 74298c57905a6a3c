// Reloading the configuration while the hub runs (SIGHUP, POST /api/v1/config/reload): the file is
// read and checked as at start; a configuration with a problem changes nothing and the problems are
// answered, logged and counted; a good one is taken on by every part that can (compose parts'
// `reconfigure`), with what needs a restart reported and left as it was. Every reload is in the
// audit log, in health and on floorwatch/hub/config.
import { appliedConfig, configChanges, configHash, type ReloadAnswer } from '../config/changes.ts';
import { ConfigError, type Config } from '../config/config.ts';
import { topics } from '../domain/topics.ts';
import type { Audit } from '../security/audit.ts';
import type { HubContext } from './context.ts';

export interface ConfigReload {
  reload(by: string): ReloadAnswer;
}

export interface ConfigReloadOptions {
  /** Reads the configuration again, as at start; throws a ConfigError on a problem. */
  read: () => Config;
  audit: Audit;
  publish: (topic: string, payload: string, options: { retain: boolean }) => Promise<void>;
}

export function openConfigReload(ctx: HubContext, options: ConfigReloadOptions): ConfigReload {
  const { log, metrics, now, lifecycle } = ctx;
  let running = ctx.config;
  let hash = configHash(running);
  let loadedAt = now();
  let last: { at: number; by: string; ok: boolean; problems: string[] } | undefined;
  const topic = topics.hubConfig(ctx.config.mqtt.topic_prefix);

  const announce = (answer: ReloadAnswer, by: string) => {
    const payload = JSON.stringify({
      hash: answer.hash,
      loadedAt: answer.loadedAt,
      by,
      applied: answer.applied,
      needsRestart: answer.needsRestart,
    });
    options.publish(topic, payload, { retain: true }).catch((err: unknown) => {
      log.warn({ err: (err as Error).message }, `could not announce the reloaded configuration on ${topic}`);
    });
  };

  const reload = (by: string): ReloadAnswer => {
    const at = now();
    let next: Config;
    let changes;
    let failed: string[] = [];
    try {
      next = options.read();
      changes = configChanges(running, next);
      // In a cluster every hub must run one configuration: each takes a new one at its restart.
      if (running.cluster.redis_url !== undefined && changes.applied.length > 0) {
        changes.needsRestart.unshift(...changes.applied.map((line) => `${line} (in a cluster, at each hub's restart)`));
        changes.applied = [];
      } else if (changes.applied.length > 0) {
        // Only then: taking settings on costs the rule engine a durable save and a reload of its state.
        next = appliedConfig(running, next);
        failed = lifecycle.reconfigure(next, changes);
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      metrics.configReloadFailures.inc();
      last = { at, by, ok: false, problems: err.problems };
      log.error(
        { by, problems: err.problems },
        `configuration not reloaded, the hub runs on as it was: ${err.problems.length} problem(s): ${err.problems.join('; ')}`,
      );
      options.audit(by, 'config.reload', { ok: false, problems: err.problems });
      return { ok: false, problems: err.problems, applied: [], needsRestart: [], hash, loadedAt };
    }
    if (changes.applied.length > 0) {
      running = next;
      hash = configHash(running);
      loadedAt = at;
    }
    metrics.configReloads.inc();
    if (failed.length > 0) {
      metrics.configReloadFailures.inc();
      log.error(
        { by, failed },
        `configuration reloaded in part: ${failed.join('; ')}; restart the hub to run on it whole`,
      );
    }
    last = { at, by, ok: failed.length === 0, problems: failed };
    const answer: ReloadAnswer = { ok: failed.length === 0, problems: failed, ...changes, hash, loadedAt };
    const said = [
      changes.applied.length > 0 ? `applied: ${changes.applied.join('; ')}` : 'nothing to apply',
      ...(changes.needsRestart.length > 0
        ? [`needs a restart, left as it was: ${changes.needsRestart.join('; ')}`]
        : []),
    ];
    log.info({ by, hash }, `configuration reloaded by ${by}: ${said.join('; ')}`);
    options.audit(by, 'config.reload', {
      ok: failed.length === 0,
      ...(failed.length > 0 && { problems: failed }),
      hash,
      applied: changes.applied,
      needsRestart: changes.needsRestart,
    });
    announce(answer, by);
    return answer;
  };

  lifecycle.add({
    name: 'configuration',
    health: () => ({
      condition: last?.ok === false ? 'degraded' : 'ok',
      check: {
        ok: true,
        detail:
          last?.ok === false
            ? `the last reload (${new Date(last.at).toISOString()}) was refused: ${last.problems.join('; ')}; running on the configuration of ${new Date(loadedAt).toISOString()}`
            : `configuration of ${new Date(loadedAt).toISOString()} (${hash})`,
        configLoadedAt: loadedAt,
        configHash: hash,
        ...(last && { lastReload: last }),
      },
    }),
  });
  return { reload };
}
