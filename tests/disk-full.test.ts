// The data disk fills up: the hub withholds the PUBACK, says so in health, and acknowledges and
// stores the reading once space is back. The data dir is a small tmpfs (the tests run as root).
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';

/** Fills the disk until at most `leaveBytes` are free (all of it by default). */
function fill(path: string, leaveBytes = 0): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  const free = () => {
    const fs = statfsSync(path);
    return fs.bavail * fs.bsize;
  };
  try {
    while (free() > leaveBytes) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

describe('data disk full', () => {
  const mount = tempDir('floorwatch-disk-');
  let hub: TestHub;

  beforeAll(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
    const dataDir = join(mount, 'data');
    mkdirSync(dataDir);
    hub = await startTestHub({ dataDir });
  });
  afterAll(async () => {
    try {
      await hub?.stop();
    } finally {
      execFileSync('umount', [mount]);
      rmSync(mount, { recursive: true, force: true });
    }
  });

  it('warns that the data disk is nearly full while there is still room to record it', async () => {
    const filler = join(mount, 'nearly');
    fill(filler, 160 * 1024);
    type Alert = { rule: string; severity: string; state: string; summary: string };
    const alert = await eventually(
      async () => {
        const { alerts } = await hub.json<{ alerts: Alert[] }>('/api/v1/alerts?zone=hub');
        return alerts.find((a) => a.rule === 'disk_space' && a.state === 'firing');
      },
      { what: 'the disk-space alert' },
    );
    expect(alert.severity).toBe('warning');
    expect(alert.summary).toMatch(/data disk is nearly full: [0-9.]+ % free/);
    unlinkSync(filler);
    await eventually(
      async () => {
        const { alerts } = await hub.json<{ alerts: Alert[] }>('/api/v1/alerts?zone=hub');
        return alerts.some((a) => a.rule === 'disk_space' && a.state === 'resolved');
      },
      { what: 'the disk-space alert to resolve' },
    );
  });

  it('withholds the acknowledgement until the reading is on disk', async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'df-1' });
    await client.publishAsync('floorwatch/devices/df-1/telemetry', JSON.stringify({ seq: 1, temperature: 21 }), {
      qos: 1,
    });

    const filler = join(mount, 'filler');
    fill(filler);
    // Large enough to need a new page of the journal file, which the full disk cannot give.
    const doc: Record<string, number> = { seq: 2, temperature: 22 };
    for (let i = 0; i < 60; i++) doc[`spare_channel_with_a_long_descriptive_name_${i}`] = i;
    let acknowledged = false;
    const publish = client
      .publishAsync('floorwatch/devices/df-1/telemetry', JSON.stringify(doc), { qos: 1 })
      .then(() => {
        acknowledged = true;
      });
    const health = await eventually(
      async () => {
        const response = await hub.api('/api/v1/health');
        const body = (await response.json()) as { checks: { journal: { ok: boolean; detail: string } } };
        return response.status === 503 && !body.checks.journal.ok && body.checks.journal;
      },
      // A loaded machine has taken more than 20 s here once: the failed append is retried on its own time.
      { what: 'health to report the journal unwritable', timeoutMs: 60_000 },
    );
    expect(health.detail).toMatch(/cannot write to disk .*ENOSPC.*not acknowledged/);
    expect(acknowledged).toBe(false);

    unlinkSync(filler);
    await publish;
    expect(acknowledged).toBe(true);
    const points = await eventually(
      async () => {
        const body = await hub.json<{ points: Array<{ value: number }> }>(
          '/api/v1/readings?device=df-1&metric=temperature&from=-1h',
        );
        return body.points.length === 2 && body.points;
      },
      { what: 'both readings stored' },
    );
    expect(points.map((p) => p.value)).toEqual([21, 22]);
    await eventually(async () => (await hub.api('/api/v1/health')).status === 200, { what: 'health to recover' });
    await client.endAsync();
  });
});
