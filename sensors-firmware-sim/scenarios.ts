// The scenario timeline: which scenario is under way, where, at a given moment. The environment,
// the sensors and the devices each ask it about themselves; what each scenario does to readings
// and which alerts it should raise is written in sensors-firmware-sim/README.md.
import type { Scenario, ScenarioType } from './scenario-schema.ts';

type Of<T extends ScenarioType> = Extract<Scenario, { type: T }>;

export class Timeline {
  /**
   * @param start simulated time the scenarios' `at` counts from
   */
  constructor(
    private readonly scenarios: readonly Scenario[],
    readonly start: number,
  ) {}

  /** When the scenario begins and ends (end Infinity: until the run stops). */
  window(scenario: Scenario): { from: number; to: number } {
    const from = this.start + scenario.at;
    return { from, to: scenario.duration === undefined ? Infinity : from + scenario.duration };
  }

  /** The scenario of this type under way for this zone, device or gateway at time t, if any. */
  active<T extends ScenarioType>(type: T, target: string, t: number, metric?: string): Of<T> | undefined {
    for (const scenario of this.scenarios) {
      if (scenario.type !== type) continue;
      const subject = 'zone' in scenario ? scenario.zone : 'gateway' in scenario ? scenario.gateway : scenario.device;
      if (subject !== target) continue;
      if (metric !== undefined && 'metric' in scenario && scenario.metric !== undefined && scenario.metric !== metric)
        continue;
      const { from, to } = this.window(scenario);
      if (t >= from && t < to) return scenario as Of<T>;
    }
    return undefined;
  }
}
