// docker-compose.cluster.yml: three hubs on one Redis and one InfluxDB behind HAProxy, checked
// with Debian's docker-compose and HAProxy's own configuration check.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../hub/config/config.ts';
import { composeConfig, mount, ROOT, type Compose } from './support/compose.ts';

describe('docker-compose.cluster.yml', () => {
  let compose: Compose;

  beforeAll(async () => {
    const result = await composeConfig({ GRAFANA_ADMIN_PASSWORD: 'a-site-password' }, 'docker-compose.cluster.yml');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    compose = parse(result.stdout) as Compose;
  });

  it('runs three hubs on one Redis and one InfluxDB behind HAProxy, each service checked and restarted', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'grafana',
      'haproxy',
      'hub-1',
      'hub-2',
      'hub-3',
      'influxdb',
      'prometheus',
      'redis',
    ]);
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.test[0], `${name} has a healthcheck`).toMatch(/^CMD/);
      expect(service.restart, name).toBe('unless-stopped');
    }
    // Only HAProxy and Grafana are published: the hubs, Redis and InfluxDB stay on the compose network.
    const published = Object.entries(compose.services)
      .filter(([, s]) => s.ports !== undefined)
      .map(([n]) => n);
    expect(published.sort()).toEqual(['grafana', 'haproxy']);
    expect(compose.services.redis!.image).toBe('redis:7');
    expect(compose.services.redis!.volumes?.map(mount).map((v) => v.target)).toEqual(['/data']);
  });

  it('starts each hub as a node of its own name, with its own data, on the shared Redis and InfluxDB', () => {
    const names = new Set<string>();
    const volumes = new Set<string>();
    for (const n of [1, 2, 3]) {
      const hub = compose.services[`hub-${n}`]!;
      const env = hub.environment!;
      const configMount = hub.volumes!.map(mount).find((v) => v.target === env.FLOORWATCH_CONFIG)!;
      const config = loadConfig({ env: { ...env, FLOORWATCH_CONFIG: configMount.source }, cwd: ROOT });
      expect(config.cluster.redis_url).toBe('redis://redis:6379');
      expect(config.storage.influx_url).toBe('http://influxdb:8086/floorwatch');
      expect(hub.depends_on?.redis?.condition).toBe('service_healthy');
      names.add(config.cluster.node_id!);
      volumes.add(hub.volumes!.map(mount).find((v) => v.target === config.data_dir)!.source);
    }
    expect([...names]).toEqual(['hub-1', 'hub-2', 'hub-3']);
    expect(volumes.size).toBe(3);
  });

  it('gives HAProxy a configuration HAProxy accepts, passing MQTT as TCP and the API as HTTP to every hub', async () => {
    const file = compose.services.haproxy!.volumes!.map(mount).find((v) => v.target.endsWith('haproxy.cfg'))!.source;
    const check = await promisify(execFile)('haproxy', ['-c', '-f', file]);
    expect(check.stdout).toMatch(/Configuration file is valid/);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/frontend mqtt\n\s+mode tcp\n\s+bind :1883/);
    expect(text).toMatch(/frontend api\n\s+mode http\n\s+bind :8080/);
    for (const backend of ['hubs_mqtt', 'hubs_api']) {
      const servers = text
        .split(`\nbackend ${backend}\n`)[1]!
        .split(/\n(?:frontend|backend) /)[0]!
        .match(/server (hub-\d) hub-\d:(\d+)/g);
      expect(servers, backend).toHaveLength(3);
    }
  });
});
