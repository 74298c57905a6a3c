// Device health from heartbeats: battery, signal strength and firmware reach the devices API and
// the equipment record; a low battery raises a warning; a level that is no level is refused.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

describe('device health from heartbeats', () => {
  let hub: TestHub;
  let client: MqttClient;
  beforeAll(async () => {
    hub = await startTestHub({
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        devices: [{ id: 'hs-a1', kind: 'headset', zone: 'floor-a', position: 'A-1' }],
      },
    });
    client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'hs-a1', reconnectPeriod: 0 });
  });
  afterAll(async () => {
    await client.endAsync();
    await hub.dispose();
  });
  const beat = (body: Record<string, unknown>) =>
    client.publishAsync(
      'floorwatch/devices/hs-a1/heartbeat',
      JSON.stringify({ kind: 'headset', status: 'ok', ts: Date.now(), ...body }),
      { qos: 1 },
    );

  it('shows battery, signal and firmware, warns of a low battery, and puts them in the equipment record', async () => {
    await beat({ battery: 18, rssi: -71, fw: '2.4.1' });
    const device = await eventually(async () => {
      const d = await hub.json<{ battery: number | null; rssi: number | null; fw: string | null }>(
        '/api/v1/devices/hs-a1',
      );
      return d.battery === null ? undefined : d;
    });
    expect(device).toMatchObject({ battery: 18, rssi: -71, fw: '2.4.1', position: 'A-1' });
    const alert = await eventually(async () =>
      (
        await hub.json<{ alerts: Array<{ key: string; summary: string; severity: string }> }>('/api/v1/alerts')
      ).alerts.find((a) => a.key === 'equipment.battery_low.hs-a1'),
    );
    expect(alert).toMatchObject({
      severity: 'warning',
      summary: 'headset hs-a1 in floor-a: battery low: 18 %, at or below 20 % (clears at 25 %)',
    });
    const csv = await (await hub.api('/api/v1/reports/equipment?format=csv')).text();
    const [header, ...rows] = csv.split('\r\n');
    const row = rows.find((r) => r.startsWith('hs-a1,'))?.split(',');
    const column = (name: string) => row?.[header!.split(',').indexOf(name)];
    expect([column('battery_percent'), column('rssi_dbm'), column('firmware')]).toEqual(['18', '-71', '2.4.1']);
  });

  it('refuses a battery or signal level that is not one, naming it, and keeps the last good one', async () => {
    await beat({ battery: 150 });
    await beat({ rssi: 'strong' });
    const refused = await eventually(async () => {
      const { rejections } = await hub.json<{ rejections: Array<{ detail: string }> }>(
        '/api/v1/rejections?device=hs-a1',
      );
      return rejections.length >= 2 ? rejections.map((r) => r.detail) : undefined;
    });
    expect(refused).toEqual([
      'heartbeat "rssi" must be a signal strength in dBm from -150 to 0, found "strong"',
      'heartbeat "battery" must be a charge in % from 0 to 100, found 150',
    ]);
    expect(await hub.json('/api/v1/devices/hs-a1')).toMatchObject({ battery: 18, rssi: -71 });
  });
});
