// docker-compose.yml for a site, checked with Debian's docker-compose (`config` validates and
// resolves the file without a Docker engine), and the Dockerfile it builds the hub from: with no
// Docker engine either, its stages are laid out in folders and the image's command run with node.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARDS_IN_CONTAINER } from '../dashboards/provisioning.ts';
import { loadConfig } from '../hub/config/config.ts';
import { SERVICE_ENVIRONMENT } from '../hub/service-environment.ts';
import { composeConfig, mount, ROOT, type Compose } from './support/compose.ts';
import { eventually, spawnHub, tempDir } from './support/hub.ts';

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
    const dataDirs: Record<string, string> = {
      hub: '/data',
      influxdb: '/var/lib/influxdb',
      grafana: '/var/lib/grafana',
      prometheus: '/prometheus',
    };
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
    const sources = parse(readFileSync(join(provisioning.source, 'datasources/floorwatch.yaml'), 'utf8')) as {
      datasources: Array<{ type: string; url: string; jsonData: { dbName?: string } }>;
    };
    const influx = sources.datasources.find((d) => d.type === 'influxdb')!;
    const hubInflux = new URL(compose.services.hub!.environment!.FLOORWATCH_INFLUX_URL!);
    expect(influx.url).toBe(hubInflux.origin);
    expect(influx.jsonData.dbName).toBe(hubInflux.pathname.slice(1));
    const prometheus = sources.datasources.find((d) => d.type === 'prometheus')!;
    expect(new URL(prometheus.url).hostname).toBe('prometheus');
    const provider = parse(readFileSync(join(provisioning.source, 'dashboards/floorwatch.yaml'), 'utf8')) as {
      providers: Array<{ options: { path: string } }>;
    };
    expect(provider.providers[0]!.options.path).toBe(DASHBOARDS_IN_CONTAINER);
  });

  it('has Prometheus scrape the hub’s /metrics with a token from a compose secret', () => {
    const prometheus = compose.services.prometheus!;
    const configFile = prometheus.volumes!.map(mount).find((v) => v.target === '/etc/prometheus/prometheus.yml')!;
    const scrape = (
      parse(readFileSync(configFile.source, 'utf8')) as {
        scrape_configs: Array<{
          metrics_path: string;
          authorization: { credentials_file: string };
          static_configs: Array<{ targets: string[] }>;
        }>;
      }
    ).scrape_configs[0]!;
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

/** One instruction of a Dockerfile, continuation lines joined. */
interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

function dockerfileStages(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of lines) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword === 'FROM') {
      const [image, as, name] = rest;
      stages.push({ image: image!, ...(as?.toUpperCase() === 'AS' && { name: name! }), instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ keyword: keyword!, args });
    }
  }
  return stages;
}

const all = (stage: Stage, keyword: string): string[] =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const last = (stage: Stage, keyword: string): string | undefined => all(stage, keyword).at(-1);

interface Copy {
  from?: string;
  sources: string[];
  destination: string;
}

function copies(stage: Stage): Copy[] {
  return all(stage, 'COPY').map((args) => {
    const words = args.split(' ');
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    return { ...(from !== undefined && { from }), sources: paths.slice(0, -1), destination: paths.at(-1)! };
  });
}

/** ENV's `NAME=value` pairs (this Dockerfile quotes a value only when it holds spaces, and escapes nothing). */
function environment(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of all(stage, 'ENV')) {
    for (const [, name, quoted, plain] of args.matchAll(/(\w+)=(?:"([^"]*)"|(\S*))/g))
      env[name!] = quoted ?? plain ?? '';
  }
  return env;
}

/**
 * Lays out what a stage's COPY instructions put under its WORKDIR into `into`: files from the
 * build context (this checkout), or from an earlier stage's folder.
 */
function copyInto(stage: Stage, into: string, stageDirs: Record<string, string>): void {
  const workdir = last(stage, 'WORKDIR')!;
  for (const copy of copies(stage)) {
    for (const source of copy.sources) {
      const from =
        copy.from === undefined ? join(ROOT, source) : join(stageDirs[copy.from]!, relative(workdir, source));
      const target =
        copy.destination.endsWith('/') || copy.sources.length > 1
          ? join(into, copy.destination, basename(source))
          : join(into, copy.destination);
      cpSync(from, target, { recursive: true });
    }
  }
}

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = dockerfileStages(text);
  const final = stages.at(-1)!;
  const build = stages.find((s) => s.name === 'build')!;
  const entrypoint = JSON.parse(last(final, 'ENTRYPOINT')!) as string[];
  const cmd = JSON.parse(last(final, 'CMD')!) as string[];

  it('runs the built hub on Node 24 as a non-root user, from a slim image without build tools', () => {
    // One Node for both stages: better-sqlite3, compiled in the first, loads only on that Node.
    expect(stages.map((s) => s.image)).toEqual(['node:24-bookworm-slim', 'node:24-bookworm-slim']);
    expect(build).toBeDefined();
    const user = last(final, 'USER');
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(all(final, 'RUN').join('\n')).not.toMatch(/apt-get install|g\+\+/);
    // Plain node on the JavaScript the build wrote: no TypeScript loader at run time.
    expect(entrypoint[0]).toBe('node');
    expect([...entrypoint, ...cmd].join(' ')).not.toMatch(/tsx|\.ts\b/);
    expect(entrypoint.slice(1)).toEqual(['dist/hub/cli/main.js']);
    expect(cmd).toEqual(['start']);
  });

  it('sends only what the build needs', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore).toEqual([
      '*',
      '!package.json',
      '!package-lock.json',
      '!tsconfig.json',
      '!tsconfig.build.json',
      '!hub/',
    ]);
    const sent = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')));
    for (const copy of [...copies(build), ...copies(final)].filter((c) => c.from === undefined)) {
      for (const source of copy.sources) {
        expect(sent.has(source), `${source} is sent to the build`).toBe(true);
        expect(existsSync(join(ROOT, source)), source).toBe(true);
      }
    }
  });

  it(
    'runs the hub and its command line with plain node from only what the image holds',
    { timeout: 180_000 },
    async () => {
      const run = promisify(execFile);
      const buildRuns = all(build, 'RUN').join('\n');
      expect(buildRuns).toMatch(/npm ci\b/);
      expect(buildRuns).toMatch(/npm run build\b/);
      expect(buildRuns).toMatch(/npm prune --omit=dev\b/);

      const dir = tempDir('floorwatch-image-');
      const data = join(dir, 'data');
      try {
        // The build stage, with this checkout's installed packages standing in for its `npm ci`.
        const buildDir = join(dir, 'build');
        copyInto(build, buildDir, {});
        symlinkSync(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'));
        await run('npm', ['run', 'build'], { cwd: buildDir });
        // The image: only what the final stage copies, so the hub's TypeScript sources are absent.
        const imageDir = join(dir, 'image');
        copyInto(final, imageDir, { build: buildDir });
        expect(existsSync(join(imageDir, 'hub'))).toBe(false);

        const { FLOORWATCH_BIND, FLOORWATCH_DATA_DIR, ...imageEnv } = environment(final);
        expect(FLOORWATCH_BIND).toBe('0.0.0.0');
        expect(FLOORWATCH_DATA_DIR).toBe('/data');
        // What the hub asks of the environment that starts it, all of it.
        expect(imageEnv).toMatchObject(SERVICE_ENVIRONMENT);
        // `docker compose run --rm hub <command>`: the entrypoint with the command's words as its CMD.
        const floorwatch = async (...args: string[]) =>
          (
            await run(process.execPath, [...entrypoint.slice(1), ...args], {
              cwd: imageDir,
              env: { ...process.env, ...imageEnv, FLOORWATCH_DATA_DIR: data },
            })
          ).stdout;
        expect(await floorwatch('help')).toMatch(/^ {2}devices /m);
        const password = /^password: +(\S+)$/m.exec(
          await floorwatch('devices', 'add', 'env-a1', '--zone', 'floor-a'),
        )?.[1];
        const token = /^(fwt_\S+)$/m.exec(await floorwatch('tokens', 'create', 'li.wei', '--role', 'operator'))?.[1];
        expect(password).toBeDefined();
        expect(token).toBeDefined();

        // On this machine's loopback rather than the image's 0.0.0.0; otherwise as the image starts it.
        const hub = await spawnHub(data, {
          command: { args: [...entrypoint.slice(1), ...cmd], cwd: imageDir },
          env: imageEnv,
          logLevel: 'warn',
        });
        try {
          const page = await fetch(`${hub.url}/`);
          expect(page.status).toBe(200);
          expect(await page.text()).toContain('/web/floor.js');
          expect((await fetch(`${hub.url}/web/floor.js`)).status).toBe(200);
          await run('mosquitto_pub', [
            '-h',
            '127.0.0.1',
            '-p',
            String(hub.mqttPort),
            '-q',
            '1',
            '-i',
            'env-a1',
            '-u',
            'env-a1',
            '-P',
            password!,
            '-t',
            'floorwatch/devices/env-a1/telemetry',
            '-m',
            '{"co2":812}',
          ]);
          const auth = { headers: { authorization: `Bearer ${token!}` } };
          const points = await eventually(
            async () => {
              const body = (await (
                await fetch(`${hub.url}/api/v1/readings?device=env-a1&metric=co2`, auth)
              ).json()) as { points: Array<{ value: number }> };
              return body.points.length > 0 && body.points;
            },
            { what: 'the reading in the store' },
          );
          expect(points.map((p) => p.value)).toEqual([812]);
          hub.child.kill('SIGTERM');
          expect(await hub.exited).toEqual({ code: 0, signal: null });
        } finally {
          hub.child.kill('SIGKILL');
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
