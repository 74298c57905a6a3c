// What every part of the hub is built with.
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Lifecycle } from './lifecycle.ts';

export interface HubContext {
  config: Config;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  lifecycle: Lifecycle;
}
