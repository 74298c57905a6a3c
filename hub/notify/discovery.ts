// Home Assistant MQTT discovery: one retained config message per zone metric (a sensor) and per
// zone's open alerts (a binary sensor), so a site's Home Assistant shows each zone as a device
// without any setup there. The fields follow Home Assistant's MQTT discovery schema: `name`,
// `unique_id`, `state_topic`, `value_template`, `device_class`, `unit_of_measurement`,
// `state_class`, `payload_on`/`payload_off`, `availability_topic` with `payload_available` /
// `payload_not_available`, and `device` (`identifiers`, `name`, `manufacturer`, `model`).
// Pure: zones in, messages out.
import type { MetricName } from '../domain/reading.ts';

export interface DiscoveryZone {
  zone: string;
  name?: string;
  type: string;
  metrics: readonly MetricName[];
}

export interface DiscoveryMessage {
  topic: string;
  payload: string;
}

/** Home Assistant's device class and unit for each metric it knows. */
const SENSOR = new Map<MetricName, { device_class?: string; unit: string }>([
  ['temperature', { device_class: 'temperature', unit: '°C' }],
  ['dew_point', { device_class: 'temperature', unit: '°C' }],
  ['humidity', { device_class: 'humidity', unit: '%' }],
  ['co2', { device_class: 'carbon_dioxide', unit: 'ppm' }],
  ['noise', { device_class: 'sound_pressure', unit: 'dBA' }],
  ['noise_peak', { device_class: 'sound_pressure', unit: 'dB' }],
  ['air_speed', { device_class: 'wind_speed', unit: 'm/s' }],
  // Per person: no Home Assistant class measures that.
  ['fresh_air', { unit: 'm³/h' }],
]);

export function zoneStateTopic(prefix: string, zone: string): string {
  return `${prefix}/zones/${zone}/state`;
}

export function zoneAlertsTopic(prefix: string, zone: string): string {
  return `${prefix}/zones/${zone}/alerts`;
}

/** The topic of every discovery message `discoveryMessages` makes, and of nothing else. */
export const DISCOVERY_TOPIC = /^homeassistant\/(sensor|binary_sensor)\/[A-Za-z0-9_-]+\/config$/;

/** Home Assistant ids: letters, digits, '_' and '-' only. */
function objectId(...parts: string[]): string {
  return parts.join('_').replace(/[^A-Za-z0-9_-]/g, '_');
}

export function discoveryMessages(site: string, prefix: string, zones: readonly DiscoveryZone[]): DiscoveryMessage[] {
  const availability = {
    availability_topic: `${prefix}/hub/status`,
    payload_available: 'online',
    payload_not_available: 'offline',
  };
  const out: DiscoveryMessage[] = [];
  for (const z of zones) {
    const title = z.name ?? z.zone;
    const device = {
      identifiers: [objectId('floorwatch', site, z.zone)],
      name: `${title} (${site})`,
      manufacturer: 'floorwatch',
      model: z.type,
    };
    for (const metric of z.metrics) {
      const kind = SENSOR.get(metric);
      if (!kind) continue;
      const id = objectId('floorwatch', site, z.zone, metric);
      out.push({
        topic: `homeassistant/sensor/${id}/config`,
        payload: JSON.stringify({
          name: metric.replace('_', ' '),
          unique_id: id,
          state_topic: zoneStateTopic(prefix, z.zone),
          value_template: `{{ value_json.${metric} }}`,
          ...(kind.device_class && { device_class: kind.device_class }),
          unit_of_measurement: kind.unit,
          state_class: 'measurement',
          ...availability,
          device,
        }),
      });
    }
    const id = objectId('floorwatch', site, z.zone, 'alerts');
    out.push({
      topic: `homeassistant/binary_sensor/${id}/config`,
      payload: JSON.stringify({
        name: 'open alerts',
        unique_id: id,
        state_topic: zoneAlertsTopic(prefix, z.zone),
        payload_on: 'ON',
        payload_off: 'OFF',
        device_class: 'problem',
        ...availability,
        device,
      }),
    });
  }
  return out;
}
