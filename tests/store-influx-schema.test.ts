// The InfluxDB schema's pure parts, no server: the points readings and alerts become, and the
// retention durations. What init creates on a server is in store-influx.test.ts.
import { describe, expect, it } from 'vitest';
import { encodePoint } from '../hub/store/influx/line-protocol.ts';
import { alertPoint, durationMs, readingPoint, retentionsOf, shardDuration } from '../hub/store/influx/schema.ts';

const DAY = 86_400_000;

describe('points', () => {
  it('a reading: one measurement per metric, tags device, unknown and zone in key order, field value', () => {
    expect(
      encodePoint(
        readingPoint({ device: 't-1', metric: 'temperature', ts: 1_764_460_800_000, value: 23.4, zone: 'floor-a' }),
      ),
    ).toBe('temperature,device=t-1,zone=floor-a value=23.4 1764460800000');
    // No zone: no zone tag (InfluxDB cannot store an empty one).
    expect(
      encodePoint(
        readingPoint({ device: 'd2', metric: 'vibration_rms', ts: 5, value: -0.125, zone: '', unknownMetric: true }),
      ),
    ).toBe('vibration_rms,device=d2,unknown=true value=-0.125 5');
    // Names that are keys on every object are plain names here.
    expect(
      encodePoint(
        readingPoint({
          device: 'constructor',
          metric: 'toString',
          ts: 1,
          value: 1,
          zone: 'hasOwnProperty',
          unknownMetric: true,
        }),
      ),
    ).toBe('toString,device=constructor,unknown=true,zone=hasOwnProperty value=1 1');
  });

  it('a decibel reading carries its sound energy, so long-term means are energy averages', () => {
    const noise = readingPoint({ device: 'n-1', metric: 'noise', ts: 1, value: 60, zone: 'z1' });
    expect(noise.fields).toEqual([
      ['value', 60],
      ['energy', 1e6],
    ]);
    expect(readingPoint({ device: 'n-1', metric: 'noise_peak', ts: 1, value: 135, zone: 'z1' }).fields).toEqual([
      ['value', 135],
      ['energy', 10 ** 13.5],
    ]);
    // Beyond any real level the energy is not a number InfluxDB can hold: the value alone is written.
    expect(readingPoint({ device: 'n-1', metric: 'noise', ts: 1, value: 4000, zone: 'z1' }).fields).toEqual([
      ['value', 4000],
    ]);
    expect(readingPoint({ device: 'c-1', metric: 'co2', ts: 1, value: 600, zone: 'z1' }).fields).toEqual([
      ['value', 600],
    ]);
  });

  it('an alert transition: measurement alerts, five tags, alert_id an integer, text fields quoted, value only when there is one', () => {
    const firing = {
      alertId: 42,
      key: 'equipment.headset.hs-17',
      rule: 'equipment.headset',
      subject: 'hs-17',
      zone: 'floor-a',
      event: 'firing',
      severity: 'critical' as const,
      at: 1000,
      summary: 'headset "hs-17" fault:\ncall drop-outs \\ noise',
    };
    expect(encodePoint(alertPoint(firing))).toBe(
      'alerts,event=firing,key=equipment.headset.hs-17,rule=equipment.headset,severity=critical,zone=floor-a alert_id=42i,subject="hs-17",summary="headset \\"hs-17\\" fault: call drop-outs \\\\ noise" 1000',
    );
    expect(encodePoint(alertPoint({ ...firing, value: 66.5 }))).toMatch(/,value=66\.5 1000$/);
    expect(encodePoint(alertPoint({ ...firing, value: Number.NaN }))).toMatch(/noise" 1000$/);
  });
});

describe('retention', () => {
  it('reads durations as InfluxQL writes them and as SHOW RETENTION POLICIES prints them', () => {
    expect(durationMs('30d')).toBe(30 * DAY);
    expect(durationMs('720h0m0s')).toBe(30 * DAY);
    expect(durationMs('104w')).toBe(728 * DAY);
    expect(durationMs('1h30m')).toBe(5_400_000);
    expect(durationMs('1500ms')).toBe(1500);
    for (const forever of ['INF', 'inf', '0s']) expect(durationMs(forever)).toBe(0);
  });

  it('keeps shards smaller than the policy, as InfluxDB does for a new one', () => {
    expect(shardDuration(0)).toBe('7d');
    expect(shardDuration(181 * DAY)).toBe('7d');
    expect(shardDuration(180 * DAY)).toBe('1d');
    expect(shardDuration(2 * DAY)).toBe('1d');
    expect(shardDuration(2 * DAY - 1)).toBe('1h');
  });

  it('defaults to 30 days raw and 104 weeks long term, alert history following the long term, and names a bad duration', () => {
    expect(retentionsOf({})).toEqual({ rawRetention: '30d', longTermRetention: '104w', alertHistoryRetention: '104w' });
    expect(retentionsOf({ longTermRetention: '52w' })).toEqual({
      rawRetention: '30d',
      longTermRetention: '52w',
      alertHistoryRetention: '52w',
    });
    expect(retentionsOf({ longTermRetention: '52w', alertHistoryRetention: 'INF' }).alertHistoryRetention).toBe('INF');
    expect(() => retentionsOf({ rawRetention: '30 days; DROP' })).toThrow(
      `rawRetention "30 days; DROP" is not an InfluxQL duration (e.g. '30d', '104w', 'INF')`,
    );
    expect(() => retentionsOf({ longTermRetention: '2y' })).toThrow(/longTermRetention "2y"/);
    expect(() => retentionsOf({ alertHistoryRetention: '' })).toThrow(/alertHistoryRetention ""/);
  });
});
