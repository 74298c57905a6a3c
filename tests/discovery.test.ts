// Home Assistant MQTT discovery through a bridge to a real Mosquitto 2, read back with
// mosquitto_sub: every config message is JSON with the fields Home Assistant's MQTT discovery
// needs, the state topics they name carry the zone's values, and a zone removed from the
// configuration has its messages cleared at the next start, or on the site's broker when the
// bridge is back after being away across the reloads that removed it.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';
import { startMosquitto, type MosquittoHandle } from './support/mosquitto.ts';
import { mosquittoClients } from './support/mosquitto-clients.ts';

/** Retained messages on the site's broker under `filter`, as topic → payload (mosquitto_sub, 2 s). */
async function retained(broker: MosquittoHandle, filter: string): Promise<Map<string, string>> {
  const printed = await mosquittoClients(broker.port).transcript([
    ...['-V', 'mqttv5', '-t', filter, '-F', '%t\t%p', '--retained-only', '-W', '2'],
  ]);
  const lines = printed.split('\n').filter((l) => l.includes('\t'));
  return new Map(lines.map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]));
}

interface Config {
  name: string;
  unique_id: string;
  state_topic: string;
  value_template?: string;
  device_class?: string;
  unit_of_measurement?: string;
  payload_on?: string;
  payload_off?: string;
  availability_topic: string;
  device: { identifiers: string[]; name: string; manufacturer: string };
}

describe('Home Assistant discovery through a bridge', () => {
  let broker: MosquittoHandle;
  const dataDir = tempDir();
  let hub: TestHub | undefined;
  const configOf = (zones: Array<{ id: string; type: string }>) => ({
    site: { name: 'hq' },
    zones,
    devices: [{ id: 't-1', kind: 'sensor', zone: 'floor-a' }],
    bridges: [{ name: 'site', url: broker.url, out: { discovery: true } }],
  });
  const start = async (zones: Array<{ id: string; type: string }>) => {
    hub = await startTestHub({ dataDir, config: configOf(zones) });
  };
  const zonesAnnounced = async () =>
    new Set(
      [...(await retained(broker, 'homeassistant/#')).keys()].map((t) => /floorwatch_hq_([a-z-]+)_/.exec(t)?.[1]),
    );
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await hub?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await broker.dispose();
  });

  it('announces each zone as a device, feeds its states, and clears a zone that is gone', async () => {
    await start([
      { id: 'floor-a', type: 'call_floor' },
      { id: 'server-room', type: 'server_room' },
    ]);
    const configs = await eventually(
      async () => {
        const found = await retained(broker, 'homeassistant/#');
        return found.size >= 8 && found;
      },
      { what: 'the discovery messages on the site’s broker' },
    );
    for (const [topic, payload] of configs) {
      expect(topic).toMatch(/^homeassistant\/(sensor|binary_sensor)\/[A-Za-z0-9_-]+\/config$/);
      const c = JSON.parse(payload) as Config;
      expect(c.unique_id, topic).toMatch(/^floorwatch_hq_/);
      expect(c.state_topic).toMatch(/^floorwatch\/zones\/(floor-a|server-room|unassigned)\/(state|alerts)$/);
      expect(c.availability_topic).toBe('floorwatch/hub/status');
      expect(c.device.identifiers[0]).toMatch(/^floorwatch_hq_/);
      expect(c.device.manufacturer).toBe('floorwatch');
      if (topic.startsWith('homeassistant/binary_sensor/'))
        expect([c.payload_on, c.payload_off]).toEqual(['ON', 'OFF']);
      else expect(c.value_template).toMatch(/^\{\{ value_json\.[a-z_0-9]+ \}\}$/);
    }
    const temperature = JSON.parse(
      configs.get('homeassistant/sensor/floorwatch_hq_floor-a_temperature/config')!,
    ) as Config;
    expect(temperature).toMatchObject({ device_class: 'temperature', unit_of_measurement: '°C' });

    const device = await mqtt.connectAsync(hub!.mqttUrl, { clientId: 't-1' });
    await device.publishAsync('floorwatch/devices/t-1/telemetry', JSON.stringify({ temperature: 23.4 }), { qos: 1 });
    await device.endAsync();
    const state = await eventually(
      async () => (await retained(broker, 'floorwatch/zones/floor-a/state')).get('floorwatch/zones/floor-a/state'),
      {
        what: 'the zone state',
      },
    );
    expect(JSON.parse(state)).toMatchObject({ temperature: 23.4 });
    expect((await retained(broker, 'floorwatch/zones/+/alerts')).get('floorwatch/zones/floor-a/alerts')).toBe('OFF');

    // The server room is removed from the configuration: its messages go at the next start.
    await hub!.stop();
    await start([{ id: 'floor-a', type: 'call_floor' }]);
    await eventually(
      async () => ![...(await retained(broker, 'homeassistant/#')).keys()].some((t) => t.includes('server-room')),
      {
        what: "the server room's messages to be cleared",
      },
    );
    expect([...(await retained(broker, 'homeassistant/#')).keys()].some((t) => t.includes('floor-a'))).toBe(true);
  });
  it('clears on the site’s broker the zones removed by every reload its bridge was away for', async () => {
    await hub?.stop();
    const three = [
      { id: 'floor-a', type: 'call_floor' },
      { id: 'floor-b', type: 'call_floor' },
      { id: 'floor-c', type: 'call_floor' },
    ];
    await start(three);
    await eventually(async () => (await zonesAnnounced()).has('floor-c'), { what: 'three zones announced' });
    const reload = async (zones: typeof three) => {
      writeFileSync(join(dataDir, 'floorwatch.yaml'), stringify(configOf(zones)));
      expect((await hub!.api('/api/v1/config/reload', { method: 'POST' })).status).toBe(200);
    };
    // The site's broker goes away; one reload removes floor-b, the next floor-c.
    await broker.stop();
    await eventually(async () => JSON.stringify(await hub!.json('/api/v1/health')).includes('not connected to'), {
      what: 'the bridge to find its broker gone',
    });
    await reload(three.filter((z) => z.id !== 'floor-b'));
    await reload(three.filter((z) => z.id === 'floor-a'));
    await broker.start();
    // Back, the bridge is sent both clears, not only the last reload's.
    await eventually(
      async () => {
        const zones = await zonesAnnounced();
        return zones.has('floor-a') && !zones.has('floor-b') && !zones.has('floor-c');
      },
      { timeoutMs: 20_000, what: 'floor-b and floor-c cleared on the site’s broker' },
    );
  });
});
