// Secure by default: a hub told to listen on the network without credentials refuses to start
// and says how to add them; allow_anonymous is warned about at every start.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../hub/config/config.ts';
import { startHub } from '../hub/hub.ts';
import { exposureRefusal } from '../hub/security/exposure.ts';
import { freePort } from './support/influxd.ts';
import { capturedLog, tempDir, testEnv } from './support/hub.ts';

const run = promisify(execFile);

describe('start-up exposure check', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('refuses to start on a non-loopback bind with no credentials, saying how to add them', async () => {
    const env = {
      ...process.env,
      ...testEnv(dir(), { httpPort: await freePort(), mqttPort: await freePort() }),
      FLOORWATCH_BIND: '0.0.0.0',
    };
    const started = run(process.execPath, ['--import', 'tsx', 'hub/main.ts'], { env, timeout: 30_000 });
    await expect(started).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /0\.0\.0\.0, which other machines can reach, but no device has a password and no API token exists[\s\S]*devices add[\s\S]*tokens create[\s\S]*allow_anonymous/,
      ) as unknown,
    });
  });

  it('knows loopback from network addresses', () => {
    const input = { allowAnonymous: false, deviceLogins: false, apiTokens: 'none' as const };
    for (const bind of ['127.0.0.1', '127.0.1.1', '::1', 'localhost', '::ffff:127.0.0.1'])
      expect(exposureRefusal({ ...input, bind }), bind).toBeUndefined();
    for (const bind of ['0.0.0.0', '::', '192.168.1.20', 'hub.example.com'])
      expect(exposureRefusal({ ...input, bind }), bind).toMatch(/other machines can reach/);
    expect(exposureRefusal({ ...input, bind: '0.0.0.0', deviceLogins: true })).toMatch(/no API token exists/);
    expect(
      exposureRefusal({ bind: '0.0.0.0', allowAnonymous: false, deviceLogins: true, apiTokens: 'live' }),
    ).toBeUndefined();
    expect(exposureRefusal({ ...input, bind: '0.0.0.0', allowAnonymous: true })).toBeUndefined();
  });

  it('warns at start when allow_anonymous is on', async () => {
    const dataDir = dir();
    const config = loadConfig({ env: { ...testEnv(dataDir, { config: { security: { allow_anonymous: true } } }) } });
    const { log, text } = capturedLog('warn');
    const hub = await startHub({ config, log });
    await hub.stop();
    expect(text()).toMatch(/security.allow_anonymous is on: clients without a password are accepted from any address/);
  });
});
