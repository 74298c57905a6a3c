// Everything `npm run dashboards` writes, as file contents, from the site's configuration.
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Config } from '../hub/config/config.ts';
import { siteRules } from '../hub/rules/site.ts';
import { alertsBoard, equipmentHealth } from './equipment.ts';
import { floorEnvironment, noiseExposure, SEASON_MONTHS } from './floor.ts';
import { hubInternals } from './hub-internals.ts';
import { dashboardProvider, datasources } from './provisioning.ts';
import { SEASONS, type Season } from '../hub/domain/zone.ts';

export interface GeneratedFile {
  /** Relative to dashboards/. */
  path: string;
  content: string;
}

export const DASHBOARD_DIR = 'grafana/dashboards';

/** The rules as the hub applies them in one season. */
function rulesIn(config: Config, season: Season) {
  return siteRules({ ...config, site: { ...config.site, season } }, 0);
}

export function dashboards(config: Config): Dashboard[] {
  const configured = config.site.season;
  // Grafana bands are fixed, so a site on the calendar gets one environment dashboard per season.
  const environment =
    configured === 'calendar'
      ? SEASONS.map((season) =>
          floorEnvironment(
            rulesIn(config, season),
            `floorwatch-environment-${season}`,
            `Floor environment (${season}: ${SEASON_MONTHS[season]})`,
          ),
        )
      : [floorEnvironment(rulesIn(config, configured), 'floorwatch-environment', `Floor environment (${configured})`)];
  // Exposure limits do not change with the season.
  const anySeason = rulesIn(config, configured === 'calendar' ? 'winter' : configured);
  return [...environment, noiseExposure(anySeason), equipmentHealth(), alertsBoard(), hubInternals()].map((b) =>
    b.build(),
  );
}

export function generate(config: Config): GeneratedFile[] {
  return [
    ...dashboards(config).map((d) => ({
      path: `${DASHBOARD_DIR}/${d.uid ?? 'dashboard'}.json`,
      content: `${JSON.stringify(d, null, 2)}\n`,
    })),
    { path: 'grafana/provisioning/datasources/floorwatch.yaml', content: datasources() },
    { path: 'grafana/provisioning/dashboards/floorwatch.yaml', content: dashboardProvider() },
  ];
}
