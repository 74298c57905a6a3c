// A device list snapshot cut short (a power cut while it was written, a full disk) must not keep
// the hub from starting: it is set aside, the log says so, and the devices are listed again as
// they report.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capturedLog, startTestHub, tempDir, type TestHub } from './support/hub.ts';

describe('a damaged device list snapshot', () => {
  let hub: TestHub | undefined;
  afterAll(async () => {
    await hub?.dispose();
  });

  it('is set aside at start, and the hub starts', async () => {
    const dataDir = tempDir('floorwatch-devices-damaged-');
    writeFileSync(join(dataDir, 'devices.json'), '[{"id":"p-1","zone":"floor-a","metr');
    const { log, lines } = capturedLog();
    hub = await startTestHub({ dataDir, log, config: { zones: [{ id: 'floor-a', type: 'call_floor' }] } });
    expect(lines.find((l) => l.includes('devices.json'))).toMatch(
      /^the device list kept in .*devices\.json is not a list of devices, set aside as .*devices\.json\.unreadable-.*: devices not heard from since are listed again as they report$/,
    );
    expect(readdirSync(dataDir).filter((f) => f.startsWith('devices.json.unreadable-'))).toHaveLength(1);
    expect((await hub.json<{ devices: unknown[] }>('/api/v1/devices')).devices).toEqual([]);
  });
});
