// docker-compose.yml for a site, checked with Debian's docker-compose (`config` validates and
// resolves the file without a Docker engine), and the Dockerfile it builds the hub from.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARDS_IN_CONTAINER } from '../dashboards/provisioning.ts';
import { loadConfig } from '../hub/config/config.ts';

const ROOT = resolve(import.meta.dirname, '..');

interface Service {
  image?: string;
  build?: { context: string };
  environment?: Record<string, string>;
  ports?: Array<{ published: number; target: number }>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
  secrets?: Array<{ source: string }>;
  depends_on?: Record<string, { condition: string }>;
}

interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
}

function composeConfig(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** "source:target[:mode]" as docker-compose config prints a volume. */
function mount(volume: string): { source: string; target: string } {
  const [source, target] = volume.split(':');
  return { source: source!, target: target! };
}

describe('docker-compose.yml', () => {
  let compose: Compose;

  beforeAll(async () => {
    const result = await composeConfig({ GRAFANA_ADMIN_PASSWORD: 'a-site-password' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    compose = parse(result.stdout) as Compose;
  });

  it('runs the hub, InfluxDB 1.8, Prometheus and Grafana, each with a healthcheck and restarted', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'hub', 'influxdb', 'prometheus']);
    expect(compose.services.influxdb!.image).toBe('influxdb:1.8');
    expect(compose.services.hub!.build?.context).toBe(ROOT);
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.test[0], `${name} has a healthcheck`).toMatch(/^CMD/);
      expect(service.restart, name).toBe('unless-stopped');
    }
    expect(compose.services.hub!.depends_on?.influxdb?.condition).toBe('service_healthy');
    expect(compose.services.grafana!.depends_on?.influxdb?.condition).toBe('service_healthy');
  });

  it('keeps every service’s data in a named volume', () => {
    const dataDirs: Record<string, string> = { hub: '/data', influxdb: '/var/lib/influxdb', grafana: '/var/lib/grafana', prometheus: '/prometheus' };
    for (const [name, dir] of Object.entries(dataDirs)) {
      const volume = compose.services[name]!.volumes?.map(mount).find((v) => v.target === dir);
      expect(volume, `${name} keeps ${dir}`).toBeDefined();
      expect(Object.keys(compose.volumes), `${name}: ${volume!.source} is a named volume`).toContain(volume!.source);
    }
  });

  it('points the hub at InfluxDB, with the configuration the dashboards are generated from', () => {
    const hub = compose.services.hub!;
    const env = hub.environment!;
    expect(env.FLOORWATCH_INFLUX_URL).toBe('http://influxdb:8086/floorwatch');
    const configMount = hub.volumes!.map(mount).find((v) => v.target === env.FLOORWATCH_CONFIG);
    expect(configMount?.source).toBe(join(ROOT, 'floorwatch.example.yaml'));
    // The hub would start with this: the example file plus the compose environment.
    const config = loadConfig({ env: { ...env, FLOORWATCH_CONFIG: configMount!.source }, cwd: ROOT });
    expect(config.bind).toBe('0.0.0.0');
    expect(config.storage.influx_url).toBe('http://influxdb:8086/floorwatch');
    expect(config.data_dir).toBe('/data');
    // Not opened to anonymous devices by accident: a site adds passwords and tokens (README).
    expect(config.security.allow_anonymous).toBe(false);
    expect(hub.ports?.map((p) => p.target).sort()).toEqual([1883, 8080]);
    expect(compose.services.influxdb!.ports).toBeUndefined();
  });

  it('gives Grafana the generated provisioning, whose data source is the hub’s database', () => {
    const grafana = compose.services.grafana!;
    const mounts = grafana.volumes!.map(mount);
    const provisioning = mounts.find((v) => v.target === '/etc/grafana/provisioning')!;
    const boards = mounts.find((v) => v.target === DASHBOARDS_IN_CONTAINER)!;
    expect(provisioning.source).toBe(join(ROOT, 'dashboards/grafana/provisioning'));
    expect(boards.source).toBe(join(ROOT, 'dashboards/grafana/dashboards'));
    const home = grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(existsSync(join(boards.source, home.slice(DASHBOARDS_IN_CONTAINER.length)))).toBe(true);
    const sources = parse(readFileSync(join(provisioning.source, 'datasources/floorwatch.yaml'), 'utf8')) as { datasources: Array<{ type: string; url: string; jsonData: { dbName?: string } }> };
    const influx = sources.datasources.find((d) => d.type === 'influxdb')!;
    const hubInflux = new URL(compose.services.hub!.environment!.FLOORWATCH_INFLUX_URL!);
    expect(influx.url).toBe(hubInflux.origin);
    expect(influx.jsonData.dbName).toBe(hubInflux.pathname.slice(1));
    const prometheus = sources.datasources.find((d) => d.type === 'prometheus')!;
    expect(new URL(prometheus.url).hostname).toBe('prometheus');
    const provider = parse(readFileSync(join(provisioning.source, 'dashboards/floorwatch.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
    expect(provider.providers[0]!.options.path).toBe(DASHBOARDS_IN_CONTAINER);
  });

  it('has Prometheus scrape the hub’s /metrics with a token from a compose secret', () => {
    const prometheus = compose.services.prometheus!;
    const configFile = prometheus.volumes!.map(mount).find((v) => v.target === '/etc/prometheus/prometheus.yml')!;
    const scrape = (parse(readFileSync(configFile.source, 'utf8')) as { scrape_configs: Array<{ metrics_path: string; authorization: { credentials_file: string }; static_configs: Array<{ targets: string[] }> }> }).scrape_configs[0]!;
    expect(scrape.metrics_path).toBe('/metrics');
    expect(scrape.static_configs[0]!.targets).toEqual(['hub:8080']);
    const secret = prometheus.secrets![0]!.source;
    expect(scrape.authorization.credentials_file).toBe(`/run/secrets/${secret}`);
    expect(compose.secrets[secret]!.file).toBe(join(ROOT, 'secrets/hub-metrics-token'));
  });

  it('refuses to resolve without a Grafana admin password, and says where to set it', async () => {
    const result = await composeConfig({});
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/set GRAFANA_ADMIN_PASSWORD in \.env/);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;

  it('runs the hub as a non-root user from a slim image without build tools', () => {
    expect(final).toMatch(/^node:20-bookworm-slim\b/);
    const users = [...final.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBeDefined();
    expect(['root', '0']).not.toContain(users.at(-1));
    expect(final).not.toMatch(/apt-get install|g\+\+/);
    expect(final).toMatch(/^CMD \["hub\/main\.ts"\]/m);
    expect(final).toMatch(/^ENTRYPOINT \["node", "--import", "tsx"\]/m);
  });

  it('sends only the hub’s code to the build', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore).toEqual(['*', '!package.json', '!package-lock.json', '!hub/']);
    for (const copied of [...text.matchAll(/^COPY (?:--\S+ )*(\S+(?: \S+)*) \S+$/gm)].flatMap((m) => m[1]!.split(' '))) {
      if (copied.startsWith('/app')) continue;
      expect(existsSync(join(ROOT, copied)), copied).toBe(true);
    }
  });
});
