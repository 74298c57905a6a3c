// mqtt-packet's debug calls, one per step of every packet, are silent unless DEBUG names them at
// start (hub/broker/quiet-debug.ts). Each case is a fresh node process loading the hub the way
// `npm start` does: test files share their workers' modules, mqtt-packet among them.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

// Loads the hub's modules, then reads and writes one packet with the mqtt-packet Aedes uses.
const SCRIPT = `
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
await import('./hub/hub.ts');
const { silenced } = await import('./hub/broker/quiet-debug.ts');
const fromHub = createRequire(process.cwd() + '/');
const packets = createRequire(fromHub.resolve('aedes'))('mqtt-packet');
const parser = packets.parser();
let parsed = 0;
parser.on('packet', () => parsed++);
parser.parse(packets.generate({ cmd: 'publish', topic: 'floorwatch/devices/d-1/telemetry', payload: '{"co2":600}', qos: 1, messageId: 7 }));
packets.writeToStream({ cmd: 'puback', messageId: 7 }, new PassThrough());
console.log(JSON.stringify({ parsed, silenced: [...silenced] }));
`;

async function loadHub(debug: string | undefined): Promise<{ parsed: number; silenced: string[]; stderr: string }> {
  const env = { ...process.env };
  delete env.DEBUG;
  if (debug !== undefined) env.DEBUG = debug;
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    env,
    cwd: process.cwd(),
  });
  return { ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as { parsed: number; silenced: string[] }), stderr };
}

describe('the debug calls of the MQTT packet library', () => {
  it('are silent when DEBUG does not name them', async () => {
    const { parsed, silenced, stderr } = await loadHub(undefined);
    expect(parsed).toBe(1);
    expect(silenced).toEqual(expect.arrayContaining(['mqtt-packet:parser', 'mqtt-packet:writeToStream']));
    expect(stderr).not.toContain('mqtt-packet');
  });

  it('still write what DEBUG names at start, and only that', async () => {
    const { parsed, silenced, stderr } = await loadHub('mqtt-packet:parser');
    expect(parsed).toBe(1);
    expect(silenced).not.toContain('mqtt-packet:parser');
    expect(silenced).toContain('mqtt-packet:writeToStream');
    expect(stderr).toContain('mqtt-packet:parser');
    expect(stderr).toContain('_parsePublish');
    expect(stderr).not.toContain('mqtt-packet:writeToStream');
  });
});
