// The hub rolls a minute up once it has closed, not at every write: on its own (simulated) clock,
// readings are stored at once while their minute waits; the journal position holds at the oldest
// minute waiting; a late reading rolls its minute up again; and a hub that stops rolls up every
// minute it holds, so nothing is left for the next start to replay.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ticker } from '../hub/compose/ticker.ts';
import { startTestHub, storeCaughtUp, tempDir, type TestHub } from './support/hub.ts';

const MINUTE = 60_000;
const M = Date.UTC(2026, 10, 30, 9, 0);

interface Health {
  checks: {
    store: { minutesWaiting: number };
    journal: { durableLsn: number; consumers: Array<{ name: string; committedLsn: number }> };
  };
}

describe('minutes rolled up by the hub', () => {
  let clock = M + 30_000;
  const ticks: Array<() => Promise<void>> = [];
  const ticker: Ticker = (tick) => {
    ticks.push(tick);
    return async () => undefined;
  };
  const dataDir = tempDir();
  let hub: TestHub | undefined;
  let device: MqttClient | undefined;

  afterAll(async () => {
    await device?.endAsync();
    await hub?.dispose();
  });

  const minutes = () => {
    const db = new Database(join(dataDir, 'readings.sqlite'), { readonly: true });
    try {
      return db.prepare('SELECT ts, count, mean FROM minutes ORDER BY ts').all() as Array<{
        ts: number;
        count: number;
        mean: number;
      }>;
    } finally {
      db.close();
    }
  };
  const send = async (ts: number, co2: number) => {
    await device!.publishAsync('floorwatch/devices/s-1/telemetry', JSON.stringify({ ts, co2 }), { qos: 1 });
  };
  const tick = async () => {
    for (const t of ticks) await t();
  };
  const health = async () => (await (await hub!.api('/api/v1/health')).json()) as Health;

  it('stores readings at once, rolls their minute up once it has closed, and again for a late reading', async () => {
    hub = await startTestHub({ dataDir, now: () => clock, ticker });
    device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 's-1' });
    await send(M + 1000, 600);
    await send(M + 20_000, 700);
    await send(M + 29_000, 800);
    await storeCaughtUp(hub);
    await tick();
    // Stored, not yet rolled up: the minute is open, and the store's position holds before it.
    expect(minutes()).toEqual([]);
    const open = await health();
    expect(open.checks.store.minutesWaiting).toBe(1);
    const store = open.checks.journal.consumers.find((c) => c.name === 'store')!;
    expect(store.committedLsn).toBeLessThan(open.checks.journal.durableLsn);

    // Closed, and five seconds more for readings on their way.
    clock = M + MINUTE + 5000;
    await tick();
    expect(minutes()).toEqual([{ ts: M, count: 3, mean: 700 }]);
    expect((await health()).checks.store.minutesWaiting).toBe(0);

    // A reading buffered by its device lands in the minute later on: it is rolled up again.
    clock = M + 10 * MINUTE;
    await send(M + 40_000, 1100);
    await storeCaughtUp(hub);
    await tick();
    expect(minutes()).toEqual([{ ts: M, count: 4, mean: 800 }]);
  });

  it('rolls up the open minute when the hub stops, and saves its position past every reading', async () => {
    clock = M + 12 * MINUTE + 10_000;
    await send(clock - 1000, 500);
    await storeCaughtUp(hub!);
    await tick();
    expect(minutes()).toHaveLength(1);
    const { durableLsn } = (await health()).checks.journal;
    await device!.endAsync();
    device = undefined;
    await hub!.stop();
    expect(minutes().at(-1)).toEqual({ ts: M + 12 * MINUTE, count: 1, mean: 500 });
    expect(Number(await readFile(join(dataDir, 'journal', 'consumers', 'store.pos'), 'utf8'))).toBe(durableLsn);
  });
});
