// What the fleet file's fields cannot say alone: every id once (after `count` numbers them), every
// zone, gateway and sensor an entry names is in the file, and a scenario asks only for what its
// sensor or zone has.
import type { z } from 'zod';
import { ID_PATTERN } from '../hub/domain/reading.ts';
import { defaultMetrics, expandIds, type FleetEntries } from './fleet-schema.ts';
import { idMessage } from './fleet-values.ts';

export function checkFleet(fleet: FleetEntries, ctx: z.core.$RefinementCtx): void {
  const zones = new Set<string>();
  fleet.zones.forEach((zone, i) => {
    if (zones.has(zone.id))
      ctx.addIssue({
        code: 'custom',
        path: ['zones', i, 'id'],
        message: `zone "${zone.id}" is listed twice`,
        input: zone.id,
      });
    zones.add(zone.id);
  });
  const zoneProblem = (zone: string) =>
    `names zone "${zone}", which is not under zones (known: ${[...zones].join(', ')})`;
  const ids = new Map<string, 'sensor' | 'device'>();
  const sensorMetrics = new Map<string, readonly string[]>();
  const claim = (section: 'sensors' | 'devices', i: number, entry: { id: string; count: number }) => {
    if (entry.count > 1 && !entry.id.includes('{n}')) {
      ctx.addIssue({
        code: 'custom',
        path: [section, i, 'id'],
        message: `needs {n} in it to number ${entry.count} devices, e.g. "${entry.id}-{n}"`,
        input: entry.id,
      });
    }
    for (const one of expandIds(entry.id, entry.count)) {
      if (!ID_PATTERN.test(one))
        ctx.addIssue({
          code: 'custom',
          path: [section, i, 'id'],
          message: `makes the id "${one}", which ${idMessage}`,
          input: entry.id,
        });
      if (ids.has(one))
        ctx.addIssue({
          code: 'custom',
          path: [section, i, 'id'],
          message: `device "${one}" is listed twice`,
          input: entry.id,
        });
      ids.set(one, section === 'sensors' ? 'sensor' : 'device');
    }
  };
  fleet.sensors.forEach((sensor, i) => {
    claim('sensors', i, sensor);
    const zone = fleet.zones.find((z) => z.id === sensor.zone);
    if (!zone)
      ctx.addIssue({
        code: 'custom',
        path: ['sensors', i, 'zone'],
        message: zoneProblem(sensor.zone),
        input: sensor.zone,
      });
    const metrics = sensor.metrics ?? defaultMetrics(zone?.type ?? 'call_floor');
    for (const one of expandIds(sensor.id, sensor.count)) sensorMetrics.set(one, metrics);
  });
  fleet.devices.forEach((device, i) => {
    claim('devices', i, device);
    if (device.zone !== undefined && !zones.has(device.zone))
      ctx.addIssue({
        code: 'custom',
        path: ['devices', i, 'zone'],
        message: zoneProblem(device.zone),
        input: device.zone,
      });
  });
  const gateways = new Set<string>();
  fleet.gateways.forEach((gateway, i) => {
    // The hub keeps gateways and devices apart, but one id for both would confuse an operator.
    if (gateways.has(gateway.id) || ids.has(gateway.id))
      ctx.addIssue({
        code: 'custom',
        path: ['gateways', i, 'id'],
        message: `"${gateway.id}" is listed twice`,
        input: gateway.id,
      });
    gateways.add(gateway.id);
    if (!zones.has(gateway.zone))
      ctx.addIssue({
        code: 'custom',
        path: ['gateways', i, 'zone'],
        message: zoneProblem(gateway.zone),
        input: gateway.zone,
      });
    const behind = new Set<string>();
    gateway.sensors.forEach((sensor, j) => {
      if (sensor.zone !== undefined && !zones.has(sensor.zone))
        ctx.addIssue({
          code: 'custom',
          path: ['gateways', i, 'sensors', j, 'zone'],
          message: zoneProblem(sensor.zone),
          input: sensor.zone,
        });
      // Several metrics of one sensor are several entries; one device behind two gateways is not.
      if (!behind.has(sensor.device) && ids.has(sensor.device)) {
        ctx.addIssue({
          code: 'custom',
          path: ['gateways', i, 'sensors', j, 'device'],
          message: `device "${sensor.device}" is listed twice`,
          input: sensor.device,
        });
      }
      behind.add(sensor.device);
    });
    for (const device of behind) ids.set(device, 'sensor');
  });
  fleet.scenarios.forEach((scenario, i) => {
    if ('gateway' in scenario && !gateways.has(scenario.gateway)) {
      ctx.addIssue({
        code: 'custom',
        path: ['scenarios', i, 'gateway'],
        message: `names "${scenario.gateway}", which is not under gateways (known: ${[...gateways].join(', ') || 'none'})`,
        input: scenario.gateway,
      });
    }
    if ('zone' in scenario && !zones.has(scenario.zone))
      ctx.addIssue({
        code: 'custom',
        path: ['scenarios', i, 'zone'],
        message: zoneProblem(scenario.zone),
        input: scenario.zone,
      });
    if (
      scenario.type === 'cooling_failure' &&
      fleet.zones.find((z) => z.id === scenario.zone)?.type !== 'server_room'
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['scenarios', i, 'zone'],
        message: 'cooling_failure needs a zone of type server_room',
        input: scenario.zone,
      });
    }
    if (scenario.type === 'setback_stuck' && fleet.zones.find((z) => z.id === scenario.zone)?.setback === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['scenarios', i, 'zone'],
        message: 'setback_stuck needs a zone with a setback',
        input: scenario.zone,
      });
    }
    if ('device' in scenario) {
      const metrics = sensorMetrics.get(scenario.device);
      if (metrics === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['scenarios', i, 'device'],
          message: `names "${scenario.device}", which is not one of the sensors`,
          input: scenario.device,
        });
      } else if ('metric' in scenario && scenario.metric !== undefined && !metrics.includes(scenario.metric)) {
        ctx.addIssue({
          code: 'custom',
          path: ['scenarios', i, 'metric'],
          message: `sensor "${scenario.device}" does not measure ${scenario.metric} (it measures ${metrics.join(', ')})`,
          input: scenario.metric,
        });
      }
    }
  });
}
