// A scenario in the fleet file: what goes wrong on the floor, where, from when and for how long.
// The timeline in scenarios.ts says which is under way at a moment.
import { z } from 'zod';
import { ID_PATTERN } from '../hub/domain/reading.ts';
import { duration, id, metric } from './fleet-values.ts';

const when = { at: duration, duration: duration.optional() };
export const scenarioSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('hvac_failure'), zone: id, ...when }),
  z.strictObject({ type: z.literal('cooling_failure'), zone: id, ...when }),
  z.strictObject({
    type: z.literal('noisy_shift'),
    zone: id,
    extra_db: z.number().min(0).max(40).default(10),
    ...when,
  }),
  z.strictObject({
    type: z.literal('headset_faults'),
    zone: id,
    fraction: z.number().min(0).max(1).default(0.25),
    spread: duration.default(300_000),
    status: z.enum(['degraded', 'fault']).default('degraded'),
    codes: z.array(z.string().regex(ID_PATTERN)).min(1).default(['noise', 'drop_outs']),
    ...when,
  }),
  z.strictObject({ type: z.literal('setback_stuck'), zone: id, ...when }),
  z.strictObject({ type: z.literal('stops_reporting'), device: id, ...when }),
  z.strictObject({ type: z.literal('stuck_sensor'), device: id, metric: metric.optional(), ...when }),
  z.strictObject({
    type: z.literal('spikes'),
    device: id,
    metric,
    value: z.number(),
    every: duration.default(300_000),
    ...when,
  }),
  z.strictObject({ type: z.literal('dropout'), device: id, at: duration, duration }),
  z.strictObject({ type: z.literal('gateway_unplugged'), gateway: id, at: duration, duration }),
  z.strictObject({ type: z.literal('broken_payloads'), device: id, ...when }),
  z.strictObject({ type: z.literal('out_of_range'), device: id, metric, value: z.number().optional(), ...when }),
]);

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioType = Scenario['type'];
