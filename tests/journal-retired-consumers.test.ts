// A bridge removed from the configuration leaves its place in the journal behind: the hub started
// without it forgets that place and says so, so the journal does not keep every entry for a
// bridge that no longer exists until the disk is full. A real Mosquitto is the bridge's broker.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLog, startTestHub, tempDir, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';

interface Health {
  checks: { journal: { consumers: Array<{ name: string }> } };
}

describe('a consumer the configuration no longer runs', () => {
  let broker: MosquittoHandle;
  let hub: TestHub | undefined;
  const dataDir = tempDir('floorwatch-retired-');
  const zones = [{ id: 'floor-1', type: 'call_floor' }];

  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await hub?.dispose();
    await broker?.dispose();
  });

  it('is forgotten at the next start, and the log says which', async () => {
    hub = await startTestHub({ dataDir, config: { zones, bridges: [{ name: 'Site', url: broker.url }] } });
    const before = (await hub.json<Health>('/api/v1/health')).checks.journal.consumers.map((c) => c.name);
    expect(before).toContain('bridge-site');
    await hub.stop();
    const positionFile = join(dataDir, 'journal', 'consumers', 'bridge-site.pos');
    expect(existsSync(positionFile)).toBe(true);

    const { log, lines } = capturedLog();
    hub = await startTestHub({ dataDir, log, config: { zones } });
    const after = (await hub.json<Health>('/api/v1/health')).checks.journal.consumers.map((c) => c.name);
    expect(after).not.toContain('bridge-site');
    expect(after).toEqual(expect.arrayContaining(['devices', 'rules', 'store']));
    expect(existsSync(positionFile)).toBe(false);
    expect(lines).toContain(
      'the journal no longer keeps entries for "bridge-site": this configuration does not run it (a bridge removed or renamed, the rules of a hub that joined a cluster, or the forwarding of one that left it)',
    );
  });
});
