// Reading a compose file as docker-compose resolves it (`config` needs no Docker engine).
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Service {
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

export interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
}

export function composeConfig(
  env: Record<string, string>,
  file = 'docker-compose.yml',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      'docker-compose',
      ['-f', file, 'config'],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } },
      (err, stdout, stderr) => {
        done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** "source:target[:mode]" as docker-compose config prints a volume. */
export function mount(volume: string): { source: string; target: string } {
  const [source, target] = volume.split(':');
  return { source: source!, target: target! };
}
