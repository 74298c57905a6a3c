// `npm run dashboards`: writes the Grafana dashboards and provisioning files of the site whose
// configuration FLOORWATCH_CONFIG names (floorwatch.example.yaml when unset) into dashboards/grafana/.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, loadConfig } from '../hub/config/config.ts';
import { DASHBOARD_DIR, generate, IMPORT_DIR } from './generate.ts';

const here = import.meta.dirname;

try {
  const file = process.env.FLOORWATCH_CONFIG ?? 'floorwatch.example.yaml';
  const config = loadConfig({ env: { ...process.env, FLOORWATCH_CONFIG: file } });
  const files = generate(config);
  // Dashboards no longer generated (a season setting changed) must not linger in Grafana.
  for (const dir of [DASHBOARD_DIR, IMPORT_DIR].map((d) => join(here, d))) {
    mkdirSync(dir, { recursive: true });
    for (const old of readdirSync(dir)) if (old.endsWith('.json')) rmSync(join(dir, old));
  }
  for (const f of files) {
    mkdirSync(dirname(join(here, f.path)), { recursive: true });
    writeFileSync(join(here, f.path), f.content);
  }
  process.stdout.write(
    `Wrote ${files.length} files for the zones and rules in ${file}:\n${files.map((f) => `  dashboards/${f.path}`).join('\n')}\n`,
  );
} catch (err) {
  const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
  process.stderr.write(
    `The dashboards were not written; nothing changed. ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}\n`,
  );
  process.exit(1);
}
