// Everything `npm run dashboards` writes, as file contents, from the site's configuration.
import { VariableType, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Config } from '../hub/config/config.ts';
import { siteRules } from '../hub/rules/site.ts';
import { alertsBoard, equipmentHealth } from './equipment.ts';
import { floorEnvironment, noiseExposure, SEASON_MONTHS } from './floor.ts';
import { hubInternals } from './hub-internals.ts';
import { PROVISIONED } from './influxql.ts';
import { dashboardProvider, datasources } from './provisioning.ts';
import { SEASONS, type Season } from '../hub/domain/zone.ts';

export interface GeneratedFile {
  /** Relative to dashboards/. */
  path: string;
  content: string;
}

export const DASHBOARD_DIR = 'grafana/dashboards';
/** The same dashboards for a site's own Grafana: Dashboards → New → Import asks which data source. */
export const IMPORT_DIR = 'grafana/import';

const PLUGIN_NAMES = { influxdb: 'InfluxDB', prometheus: 'Prometheus' } as const;

/**
 * A dashboard as Grafana's "Export for sharing externally" writes one: `__inputs` names each data
 * source the import asks for, and each constant it asks the value of (the database), and
 * `${DS_…}` / `${VAR_…}` in the file is replaced by the answer. Here that is only the default of
 * the dashboard's data source variable, which every query goes through, and the constant's value.
 */
function forImport(board: Dashboard): Record<string, unknown> {
  const isSource = (name: string | undefined): name is keyof typeof PROVISIONED =>
    name !== undefined && Object.hasOwn(PROVISIONED, name);
  const variables = board.templating.list ?? [];
  const sources = variables.flatMap((v) => (v.type === VariableType.Datasource && isSource(v.name) ? [v.name] : []));
  const constants = variables.filter((v) => v.type === VariableType.Constant);
  const input = (name: keyof typeof PROVISIONED) => `DS_${name.toUpperCase()}`;
  const constantInput = (name: string) => `VAR_${name.toUpperCase()}`;
  const panelTypes = [...new Set((board.panels ?? []).map((p) => p.type).filter((t) => t !== 'row'))].sort();
  return {
    __inputs: [
      ...sources.map((name) => ({
        name: input(name),
        label: PROVISIONED[name].label,
        description: `The ${PLUGIN_NAMES[name]} data source ${name === 'influxdb' ? 'the hub writes its readings and alerts to' : 'that scrapes the hub'}`,
        type: 'datasource',
        pluginId: name,
        pluginName: PLUGIN_NAMES[name],
      })),
      ...constants.map((v) => ({
        name: constantInput(v.name),
        label: v.label ?? v.name,
        description: v.description ?? '',
        type: 'constant',
        value: v.query,
      })),
    ],
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      ...sources.map((name) => ({ type: 'datasource', id: name, name: PLUGIN_NAMES[name], version: '1.0.0' })),
      ...panelTypes.map((t) => ({ type: 'panel', id: t, name: t, version: '' })),
    ],
    ...board,
    templating: {
      list: variables.map((v) => {
        if (v.type === VariableType.Constant) return { ...v, query: `\${${constantInput(v.name)}}` };
        if (v.type !== VariableType.Datasource || !isSource(v.name)) return v;
        const chosen = `\${${input(v.name)}}`;
        return { ...v, current: { selected: true, text: chosen, value: chosen } };
      }),
    },
  };
}

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
  const boards = dashboards(config);
  return [
    ...boards.map((d) => ({
      path: `${DASHBOARD_DIR}/${d.uid ?? 'dashboard'}.json`,
      content: `${JSON.stringify(d, null, 2)}\n`,
    })),
    ...boards.map((d) => ({
      path: `${IMPORT_DIR}/${d.uid ?? 'dashboard'}.json`,
      content: `${JSON.stringify(forImport(d), null, 2)}\n`,
    })),
    { path: 'grafana/provisioning/datasources/floorwatch.yaml', content: datasources() },
    { path: 'grafana/provisioning/dashboards/floorwatch.yaml', content: dashboardProvider() },
  ];
}
