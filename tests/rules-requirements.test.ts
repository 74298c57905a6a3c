// The built-in requirements, overrides and their sources: the pure API the engine, the API, the
// command line and the dashboards share; and the `rules` command itself.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../hub/config/config.ts';
import { effectiveRequirements } from '../hub/rules/overrides.ts';
import { defaultRequirements } from '../hub/rules/requirements.ts';
import { ruleSettings } from '../hub/rules/site.ts';
import { tempDir, testEnv } from './support/hub.ts';
import type { Requirement } from '../hub/domain/requirement.ts';

const run = promisify(execFile);

function bounds(req: Requirement | undefined): string[] {
  return (req?.limits ?? [])
    .map((l) => `${l.severity} ${l.when} ${l.threshold.value}${l.threshold.judgement ? ' (J)' : ''}`)
    .sort();
}

const find = (list: Requirement[], key: string) => list.find((r) => r.key === key);

describe('built-in requirements', () => {
  it('office temperature follows the season; transition alerts on the union of winter and summer', () => {
    expect(bounds(find(defaultRequirements('call_floor', 'winter'), 'temperature'))).toEqual([
      'critical above 26 (J)',
      'critical below 16',
      'warning above 24',
      'warning below 18',
    ]);
    expect(bounds(find(defaultRequirements('call_floor', 'summer'), 'temperature'))).toEqual([
      'critical above 28',
      'critical below 20 (J)',
      'warning above 26',
      'warning below 22',
    ]);
    expect(bounds(find(defaultRequirements('quiet_room', 'transition'), 'temperature'))).toEqual([
      'critical above 28',
      'critical below 16',
      'warning above 26',
      'warning below 18',
    ]);
    const winter = find(defaultRequirements('call_floor', 'winter'), 'temperature')!;
    expect(winter.limits[0]?.threshold.source).toBe('GB 50736-2012; GB/T 18883-2022 16–24; UK ACoP min 16');
    expect(winter.limits[0]?.for.value).toBe(15 * 60_000);
  });

  it('noise is an LAeq over 15 minutes, stricter in a quiet room; the server room has no occupant rules', () => {
    const floor = find(defaultRequirements('call_floor', 'winter'), 'noise')!;
    expect(floor.limits.map((l) => [l.threshold.value, l.over])).toEqual([
      [65, { kind: 'laeq', windowMs: 900_000 }],
      [70, { kind: 'laeq', windowMs: 900_000 }],
    ]);
    expect(bounds(find(defaultRequirements('quiet_room', 'winter'), 'noise'))).toEqual([
      'critical above 45 (J)',
      'warning above 40',
    ]);
    expect(defaultRequirements('server_room', 'summer').map((r) => r.key)).toEqual([
      'temperature',
      'humidity',
      'dew_point',
      'temperature_rise',
    ]);
    expect(
      find(defaultRequirements('call_floor', 'summer'), 'co2')!.limits.map((l) => [
        l.severity,
        l.threshold.value,
        l.over.kind,
        l.for.value,
      ]),
    ).toEqual([
      ['warning', 1000, 'mean', 0],
      ['critical', 1500, 'last', 600_000],
    ]);
  });

  it('site overrides, then zone overrides, each number naming where it came from', () => {
    const list = effectiveRequirements({
      zone: 'floor-a',
      type: 'call_floor',
      season: 'winter',
      site: { temperature: { warning: { below: 17 } }, air_speed: { enabled: false } },
      zoneOverrides: { temperature: { critical: { above: 27 }, forMs: 600_000 }, co2: { hysteresis: 50 } },
    });
    const temperature = find(list, 'temperature')!;
    expect(bounds(temperature)).toEqual([
      'critical above 27',
      'critical below 16',
      'warning above 24',
      'warning below 17',
    ]);
    expect(temperature.limits.find((l) => l.threshold.value === 17)?.threshold.source).toBe(
      'override in rules.overrides.temperature.warning.below',
    );
    expect(temperature.limits.find((l) => l.threshold.value === 27)?.threshold.source).toBe(
      'override in zones[floor-a].rules.temperature.critical.above',
    );
    expect(temperature.limits.every((l) => l.for.value === 600_000)).toBe(true);
    expect(find(list, 'co2')?.hysteresis).toEqual({
      value: 50,
      source: 'override in zones[floor-a].rules.co2.hysteresis',
    });
    expect(find(list, 'air_speed')).toBeUndefined();
  });

  it('refuses an override that contradicts itself, and an unknown rule, by name', () => {
    const dir = tempDir();
    try {
      const config = loadConfig({
        env: testEnv(dir, {
          config: { zones: [{ id: 'floor-a', rules: { temperature: { critical: { above: 22 } } } }] },
        }),
      });
      expect(() => ruleSettings(config)).toThrow(ConfigError);
      expect(() => ruleSettings(config)).toThrow(
        /zone floor-a \(winter\): temperature: critical above 22 is below warning above 24/,
      );
      expect(() =>
        loadConfig({ env: testEnv(dir, { config: { rules: { overrides: { temprature: { for: '5m' } } } } }) }),
      ).toThrow(/rules.overrides: unknown field "temprature": did you mean "temperature"\?/);
      expect(() =>
        loadConfig({
          env: testEnv(dir, { config: { notify: { webhooks: [{ url: 'http://127.0.0.1:9/x', secret: 'short' }] } } }),
        }),
      ).toThrow(/notify.webhooks.0.secret.*at least 16 characters/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`floorwatch rules` prints every zone with the sources of its numbers', async () => {
    const dir = tempDir();
    try {
      const env = {
        ...process.env,
        ...testEnv(dir, { config: { site: { season: 'summer' }, zones: [{ id: 'srv', type: 'server_room' }] } }),
      };
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', 'rules', '--zone', 'srv'], {
        env,
      });
      expect(stdout).toMatch(/season: summer \(set in site.season\)/);
      expect(stdout).toMatch(/zone srv \(server_room; occupied now\)/);
      expect(stdout).toMatch(/temperature: rack inlet temperature \(°C\), judged always/);
      // Each source once where it starts, not on every line it covers.
      expect(stdout).toMatch(/warning {2}value below 18 °C {2}\[ASHRAE TC 9.9 class A1.*\n {13}for 5 min\n/);
      expect(stdout).toMatch(/critical value above 30 °C\n {13}for 2 min\n/);
      expect(stdout).toMatch(/^read from .* on this machine, as a hub started now would apply it/);
      expect(stdout).toMatch(/warning {2}rise over 10 min above or at 2 °C \(J\)/);
      const json = JSON.parse(
        (await run(process.execPath, ['--import', 'tsx', 'hub/cli/main.ts', 'rules', '--json'], { env })).stdout,
      ) as { zones: Array<{ zone: string }> };
      expect(json.zones.map((z) => z.zone)).toEqual(['srv', 'unassigned']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
