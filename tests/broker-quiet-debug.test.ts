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
const fromPackets = createRequire(createRequire(fromHub.resolve('aedes')).resolve('mqtt-packet'));
const packets = fromPackets('mqtt-packet');
// Turned on after start: reaches the real debug functions mqtt-packet would hold, not silent ones.
if (process.env.ENABLE_LATER) fromPackets('debug').enable(process.env.ENABLE_LATER);
const parser = packets.parser();
let parsed = 0;
parser.on('packet', () => parsed++);
parser.parse(packets.generate({ cmd: 'publish', topic: 'floorwatch/devices/d-1/telemetry', payload: '{"co2":600}', qos: 1, messageId: 7 }));
packets.writeToStream({ cmd: 'puback', messageId: 7 }, new PassThrough());
console.log(JSON.stringify({ parsed, silenced: [...silenced] }));
`;

async function loadHub(
  debug: string | undefined,
  enableLater?: string,
): Promise<{ parsed: number; silenced: string[]; stderr: string }> {
  const env = { ...process.env };
  delete env.DEBUG;
  delete env.ENABLE_LATER;
  if (debug !== undefined) env.DEBUG = debug;
  if (enableLater !== undefined) env.ENABLE_LATER = enableLater;
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    env,
    cwd: process.cwd(),
  });
  return { ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as { parsed: number; silenced: string[] }), stderr };
}

describe('the debug calls of the MQTT packet library', () => {
  it('are silent when DEBUG does not name them, even once debug is turned on later', async () => {
    const { parsed, silenced, stderr } = await loadHub(undefined, 'mqtt-packet:*');
    expect(parsed).toBe(1);
    expect(silenced).toEqual(expect.arrayContaining(['mqtt-packet:parser', 'mqtt-packet:writeToStream']));
    // With the real debug functions, enable() would have them write the packet's steps here.
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
