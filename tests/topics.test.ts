// The device topics of the contract: {prefix}/devices/{id}/{telemetry|heartbeat|status}, and
// nothing else taken for one.
import { describe, expect, it } from 'vitest';
import { parseDeviceTopic } from '../hub/domain/topics.ts';

describe('parseDeviceTopic', () => {
  it('finds the device and kind of the three device topics', () => {
    expect(parseDeviceTopic('floorwatch', 'floorwatch/devices/t-17/telemetry')).toEqual({
      device: 't-17',
      kind: 'telemetry',
    });
    expect(parseDeviceTopic('fw', 'fw/devices/pc.7/heartbeat')).toEqual({ device: 'pc.7', kind: 'heartbeat' });
    expect(parseDeviceTopic('fw', 'fw/devices/__proto__/status')).toEqual({ device: '__proto__', kind: 'status' });
    // An empty id level is a device topic here; ingest refuses the id with its reason.
    expect(parseDeviceTopic('fw', 'fw/devices//telemetry')).toEqual({ device: '', kind: 'telemetry' });
  });

  it('takes no other topic for one', () => {
    const others = [
      'fw/devices/t-17/telemetry/',
      'fw/devices/t-17/telemetry/more',
      'fw/devices/t-17/command',
      'fw/devices/t-17/constructor',
      'fw/devices/t-17/toString',
      'fw/devices/telemetry',
      'fw/devices/t-17',
      'fwx/devices/t-17/telemetry',
      'f/devices/t-17/telemetry',
      '/fw/devices/t-17/telemetry',
      'fw/device/t-17/telemetry',
      'fw/devicesx/t-17/telemetry',
      'fw//devices/t-17/telemetry',
      'other/devices/t-17/telemetry',
      'fw',
      '',
    ];
    expect(others.filter((topic) => parseDeviceTopic('fw', topic) !== undefined)).toEqual([]);
  });
});
