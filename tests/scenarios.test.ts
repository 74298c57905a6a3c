// Every scenario documented in sensors-firmware-sim/README.md, run on simulated time against a
// real hub, produces the readings the README says it does. Each case lists the alerts it should
// raise under the default requirements in `alerts`; the check runs for every alert listed. Notices
// routed to people go to a chat receiver here, to count them. The hub lives on the floor's time
// (tests/support/floor-run.ts): what it judges by the clock happens at the simulated moment.
import { afterAll, describe, expect, it } from 'vitest';
import { BROKEN_PAYLOADS, type Floor, type GatewayMoment } from '../sensors-firmware-sim/floor.ts';
import type { GatewayState } from '../hub/sources/serial.ts';
import { eventually, storeCaughtUp, type TestHub } from './support/hub.ts';
import { MINUTE, startFloorRun } from './support/floor-run.ts';
import { startPostReceiver } from './support/receiver.ts';

/** A Slack-like receiver: the headers of the messages posted to it give the notices, in order. */
const chat = await startPostReceiver();
afterAll(() => chat.close());
const chatHeaders = () =>
  chat.posts.map((p) => (p.body as { blocks: Array<{ text?: { text: string } }> }).blocks[0]?.text?.text ?? '');

/** The last entry the hub's journal holds. */
const durableLsn = async (hub: TestHub) => (await hub.hub.health()).checks.journal?.durableLsn as number;
/** The journal's last entry before the gateway is unplugged. */
let journaled = 0;

/** 09:00 UTC on the latest day whose morning shift has had time to run: occupied from the start. */
function morning(): number {
  const now = Date.now();
  let start = Math.floor(now / 86_400_000) * 86_400_000 + 9 * 60 * MINUTE;
  while (start > now - 3 * 60 * MINUTE) start -= 86_400_000;
  return start;
}

interface Point {
  ts: number;
  value: number;
}

interface Run {
  hub: TestHub;
  start: number;
  floor: Floor;
  /** Raw points of one device's metric between two minute marks of the run. */
  points(device: string, metric: string, fromMinute: number, toMinute: number): Promise<Point[]>;
  /** One aggregate over a span, e.g. the LAeq. */
  aggregate(device: string, metric: string, agg: string, fromMinute: number, toMinute: number): Promise<number>;
}

interface ExpectedAlert {
  severity: 'warning' | 'critical';
  state?: 'pending' | 'firing' | 'resolved';
  /** The device, or the zone, the alert is about. */
  subject?: string;
  zone?: string;
  rule?: string;
}

interface Case {
  scenario: string;
  fleet: Record<string, unknown>;
  minutes: number;
  readings(run: Run): Promise<void>;
  /** Under the default requirements (README: Scenarios); checked against GET /api/v1/alerts. */
  alerts: ExpectedAlert[];
  /** Environment rules that must not fire: a scenario that should raise nothing says so. */
  quiet?: string[];
  /** More floorwatch.yaml than the fleet's declarations. */
  hub?: Record<string, unknown>;
  /** Holds simulated time around a gateway's plugging (FloorOptions.gatewayHold). */
  gatewayHold?(hub: TestHub, gateway: string, moment: GatewayMoment, framesWritten: number): Promise<void>;
}

const office = (id: string, seats = 20) => ({
  id,
  type: 'call_floor',
  seats,
  shifts: [{ start: '08:00', end: '18:00' }],
});

const cases: Case[] = [
  {
    scenario: 'cooling_failure',
    fleet: {
      zones: [{ id: 'cf-srv', type: 'server_room' }],
      sensors: [{ id: 'cf-rack1', zone: 'cf-srv', interval: '30s' }],
      scenarios: [{ type: 'cooling_failure', zone: 'cf-srv', at: '5m' }],
    },
    minutes: 35,
    async readings(run) {
      const before = await run.points('cf-rack1', 'temperature', 0, 5);
      expect(before.length).toBe(10);
      for (const p of before) {
        expect(p.value).toBeGreaterThan(21.4);
        expect(p.value).toBeLessThan(22.6);
      }
      // Above 27 within 6 minutes, above 30 within 11, and 2 °C or more in any 10 minutes at the start.
      expect(Math.min(...(await run.points('cf-rack1', 'temperature', 11, 12)).map((p) => p.value))).toBeGreaterThan(
        27,
      );
      expect(Math.min(...(await run.points('cf-rack1', 'temperature', 16, 17)).map((p) => p.value))).toBeGreaterThan(
        30,
      );
      const end = await run.points('cf-rack1', 'temperature', 34, 35);
      expect(end[0]!.value).toBeGreaterThan(37);
      expect(end[0]!.value).toBeLessThan(42);
      expect((await run.points('cf-rack1', 'humidity', 34, 35))[0]!.value).toBeLessThan(25);
    },
    alerts: [
      { rule: 'temperature_rise', subject: 'cf-rack1', zone: 'cf-srv', severity: 'warning' },
      { rule: 'temperature', subject: 'cf-rack1', zone: 'cf-srv', severity: 'critical' },
    ],
  },
  {
    scenario: 'hvac_failure',
    fleet: {
      zones: [office('hv-floor')],
      sensors: [{ id: 'hv-env1', zone: 'hv-floor', interval: '1m' }],
      scenarios: [{ type: 'hvac_failure', zone: 'hv-floor', at: '10m' }],
    },
    minutes: 100,
    async readings(run) {
      const mean = (metric: string, from: number, to: number) => run.aggregate('hv-env1', metric, 'mean', from, to);
      expect(await mean('co2', 0, 10)).toBeGreaterThan(750);
      expect(await mean('co2', 0, 10)).toBeLessThan(1000);
      expect(await mean('fresh_air', 0, 10)).toBeCloseTo(36, -1);
      expect(await mean('temperature', 0, 10)).toBeGreaterThan(24.4);
      expect(await mean('temperature', 0, 10)).toBeLessThan(25.4);
      // An hour after the failure: CO₂ past 1500, fresh air a tenth, temperature past 28.
      expect(await mean('co2', 70, 75)).toBeGreaterThan(1500);
      expect(await mean('fresh_air', 70, 75)).toBeLessThan(5);
      expect(await mean('air_speed', 70, 75)).toBeLessThan(0.06);
      expect(await mean('temperature', 95, 100)).toBeGreaterThan(28);
    },
    alerts: [
      { rule: 'fresh_air', subject: 'hv-env1', severity: 'critical' },
      { rule: 'co2', subject: 'hv-env1', severity: 'critical' },
      { rule: 'temperature', subject: 'hv-env1', severity: 'critical' },
    ],
  },
  {
    scenario: 'noisy_shift',
    fleet: {
      zones: [office('ns-floor')],
      sensors: [{ id: 'ns-env1', zone: 'ns-floor', interval: '1m', metrics: ['noise', 'noise_peak'] }],
      scenarios: [{ type: 'noisy_shift', zone: 'ns-floor', at: '30m', duration: '1h' }],
    },
    minutes: 120,
    async readings(run) {
      const laeq = (from: number, to: number) => run.aggregate('ns-env1', 'noise', 'laeq', from, to);
      expect(await laeq(0, 30)).toBeGreaterThan(55);
      expect(await laeq(0, 30)).toBeLessThan(61);
      expect(await laeq(45, 90)).toBeGreaterThan(66);
      expect(await laeq(45, 90)).toBeLessThan(70);
      expect(await laeq(95, 120)).toBeLessThan(61);
      expect(await run.aggregate('ns-env1', 'noise_peak', 'max', 0, 120)).toBeLessThan(120);
    },
    alerts: [{ rule: 'noise', subject: 'ns-env1', severity: 'warning', state: 'resolved' }],
    quiet: ['noise_peak'],
  },
  {
    scenario: 'headset_faults',
    fleet: {
      zones: [office('hf-floor')],
      devices: [{ id: 'hf-hs{n}', count: 20, kind: 'headset', zone: 'hf-floor', heartbeat_interval: '30s' }],
      scenarios: [{ type: 'headset_faults', zone: 'hf-floor', at: '5m', fraction: 0.5, spread: '5m' }],
    },
    minutes: 12,
    async readings(run) {
      type View = {
        id: string;
        status: string | null;
        components: Record<string, { state: string; code?: string }>;
        battery: number | null;
        rssi: number | null;
      };
      // Heartbeats reach the device list through the journal: wait for the wave to show.
      const devices = await eventually(
        async () => {
          const list = (await run.hub.json<{ devices: View[] }>('/api/v1/devices?zone=hf-floor')).devices;
          return list.filter((d) => d.status === 'degraded').length >= 5 && list;
        },
        { what: 'degraded headsets' },
      );
      expect(devices).toHaveLength(20);
      const degraded = devices.filter((d) => d.status === 'degraded');
      expect(degraded.length).toBeGreaterThanOrEqual(5);
      expect(degraded.length).toBeLessThanOrEqual(15);
      for (const d of degraded) expect(['noise', 'drop_outs']).toContain(d.components.headset?.code);
      for (const d of devices.filter((d) => d.status !== 'degraded')) expect(d.status).toBe('ok');
      // Wireless: each tells its battery, run down by 3 % an hour since midnight (UTC, the simulator's
      // day; the run starts at 09:00), and its own signal.
      for (const d of devices) {
        expect(d.battery).toBeGreaterThanOrEqual(30);
        expect(d.battery).toBeLessThanOrEqual(100 - 3 * 9);
        expect(d.rssi).toBeGreaterThanOrEqual(-76);
        expect(d.rssi).toBeLessThanOrEqual(-49);
      }
      expect(new Set(devices.map((d) => d.battery)).size).toBeGreaterThan(5);
    },
    alerts: [{ rule: 'equipment.headset', zone: 'hf-floor', severity: 'warning' }],
    quiet: ['equipment.battery_low', 'equipment.weak_signal'],
  },
  {
    scenario: 'stuck_sensor',
    fleet: {
      zones: [office('st-floor')],
      sensors: [{ id: 'st-env1', zone: 'st-floor', interval: '1m', metrics: ['temperature', 'humidity'] }],
      scenarios: [{ type: 'stuck_sensor', device: 'st-env1', metric: 'temperature', at: '10m', duration: '20m' }],
    },
    minutes: 40,
    async readings(run) {
      const stuck = await run.points('st-env1', 'temperature', 10, 30);
      expect(stuck).toHaveLength(20);
      expect(new Set(stuck.map((p) => p.value)).size).toBe(1);
      expect(new Set((await run.points('st-env1', 'temperature', 0, 10)).map((p) => p.value)).size).toBeGreaterThan(1);
      expect(new Set((await run.points('st-env1', 'humidity', 10, 30)).map((p) => p.value)).size).toBeGreaterThan(1);
    },
    alerts: [],
    quiet: ['temperature', 'humidity', 'stale'],
  },
  {
    scenario: 'spikes',
    fleet: {
      zones: [office('sp-floor')],
      sensors: [{ id: 'sp-env1', zone: 'sp-floor', interval: '1m', metrics: ['noise', 'noise_peak'] }],
      scenarios: [
        {
          type: 'spikes',
          device: 'sp-env1',
          metric: 'noise_peak',
          value: 138,
          every: '5m',
          at: '10m',
          duration: '20m',
        },
      ],
    },
    minutes: 40,
    async readings(run) {
      const peaks = await run.points('sp-env1', 'noise_peak', 0, 40);
      expect(peaks).toHaveLength(40);
      expect(peaks.filter((p) => p.value === 138).map((p) => Math.floor((p.ts - run.start) / MINUTE))).toEqual([
        10, 15, 20, 25,
      ]);
      expect(Math.max(...peaks.filter((p) => p.value !== 138).map((p) => p.value))).toBeLessThan(120);
    },
    alerts: [{ rule: 'noise_peak', subject: 'sp-env1', severity: 'critical' }],
    quiet: ['noise'],
  },
  {
    scenario: 'dropout',
    fleet: {
      zones: [office('do-floor')],
      sensors: [{ id: 'do-env1', zone: 'do-floor', interval: '10s', metrics: ['co2'] }],
      scenarios: [{ type: 'dropout', device: 'do-env1', at: '5m', duration: '3m' }],
    },
    minutes: 15,
    async readings(run) {
      // No gap: what was taken during the dropout was buffered and replayed at its own time.
      const points = await run.points('do-env1', 'co2', 0, 15);
      expect(points).toHaveLength(90);
      expect(points.every((p, i) => i === 0 || p.ts - points[i - 1]!.ts === 10_000)).toBe(true);
      expect(run.floor.firmware.get('do-env1')!.stats).toMatchObject({ connects: 2, dropped: 0 });
      expect(run.floor.firmware.get('do-env1')!.stats.bufferedPeak).toBeGreaterThanOrEqual(17);
    },
    // Its last will says offline at once; the replayed readings clear it.
    alerts: [{ rule: 'offline', subject: 'do-env1', severity: 'warning', state: 'resolved' }],
    quiet: ['co2', 'stale'],
  },
  {
    scenario: 'gateway_unplugged',
    fleet: {
      zones: [office('gu-floor')],
      gateways: [
        {
          id: 'gu-gw1',
          zone: 'gu-floor',
          interval: '30s',
          alive_interval: '30s',
          sensors: Array.from({ length: 20 }, (_, i) => ({
            device: `gu-env${i + 1}`,
            metric: i % 2 === 0 ? 'co2' : 'noise',
          })),
        },
      ],
      // Five minutes: long enough for the sensors behind it to be judged silent, were they not held.
      scenarios: [{ type: 'gateway_unplugged', gateway: 'gu-gw1', at: '5m', duration: '5m' }],
    },
    minutes: 14,
    hub: {
      rules: { startup_grace: '0s' },
      notify: {
        receivers: [{ name: 'floor-chat', slack: { url: `${chat.url}/chat` } }],
        routes: [{ match: { kind: 'offline' }, receiver: 'floor-chat' }],
      },
    },
    async gatewayHold(hub, gateway, moment, framesWritten) {
      const state = async () =>
        (await hub.json<{ gateways: GatewayState[] }>('/api/v1/gateways')).gateways.find((g) => g.gateway === gateway);
      if (moment === 'plugged') {
        // The hub opens the port (again, after a backoff) in real time, and opening it drops what
        // waited: frames sent before would be lost. A real unplug outlasts that backoff.
        await eventually(async () => (await state())?.connected === true, {
          what: `the hub to open ${gateway}'s port`,
        });
      } else if (moment === 'unplugging') {
        // A serial line acknowledges nothing: let the last frames arrive before the cable goes.
        await eventually(
          async () => {
            const frames = (await state())?.frames;
            return (
              frames !== undefined && frames.ok + frames.rejected + frames.bad_checksum + frames.lost >= framesWritten
            );
          },
          { what: `the hub to read the ${framesWritten} frames ${gateway} wrote` },
        );
        journaled = await durableLsn(hub);
      } else {
        // The hub sees the port close on its own, and journals that the gateway is offline (the
        // only entry while it is unplugged); simulated time waits for both.
        await eventually(async () => (await state())?.connected === false && (await durableLsn(hub)) > journaled, {
          what: `the hub to see ${gateway}'s port close`,
        });
      }
    },
    async readings(run) {
      // A reading every 30 s; none from minute 5 to 10, the gateway being unplugged.
      const co2 = await eventually(
        async () => {
          const points = await run.points('gu-env1', 'co2', 0, 14);
          return points.length >= 17 && points;
        },
        { what: 'the readings sent after the replug in the store' },
      );
      const minutes = co2.map((p) => (p.ts - run.start) / MINUTE);
      expect(minutes).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 10, 10.5, 11, 11.5, 12, 12.5, 13, 13.5]);
      expect(await run.points('gu-env20', 'noise', 5, 10)).toEqual([]);
      expect((await run.points('gu-env20', 'noise', 10, 14)).length).toBe(8);
      for (const p of co2) {
        expect(p.value).toBeGreaterThan(500);
        expect(p.value).toBeLessThan(1200);
      }
      const { gateways } = await run.hub.json<{ gateways: GatewayState[] }>('/api/v1/gateways');
      expect(gateways.find((g) => g.gateway === 'gu-gw1')).toMatchObject({ status: 'online', connected: true });
      // The floor's chat hears of the unplug once, for the twenty sensors behind it, and once of the replug.
      await eventually(() => chat.posts.length >= 2, { what: 'the two notices in the floor chat' });
      expect(chatHeaders()).toEqual([
        expect.stringMatching(
          /^floorwatch: \[CRITICAL\] Firing: gateway gu-gw1 is offline; the offline alerts of the 20 devices behind it are held/,
        ),
        expect.stringMatching(/^floorwatch: Resolved: gateway gu-gw1 is offline/),
      ]);
    },
    // In the zone its sensors share: no zone given in the configuration.
    alerts: [{ rule: 'gateway_offline', subject: 'gu-gw1', zone: 'gu-floor', severity: 'critical', state: 'resolved' }],
    // Five minutes without a reading would put each sensor behind it offline; the gateway's alert holds theirs.
    quiet: ['offline', 'co2', 'stale'],
  },
  {
    scenario: 'broken_payloads',
    fleet: {
      zones: [office('bp-floor')],
      sensors: [{ id: 'bp-env1', zone: 'bp-floor', interval: '1m', metrics: ['temperature'] }],
      scenarios: [{ type: 'broken_payloads', device: 'bp-env1', at: '2m', duration: '6m' }],
    },
    minutes: 10,
    async readings(run) {
      expect(await run.points('bp-env1', 'temperature', 0, 10)).toHaveLength(10);
      const { rejections } = await run.hub.json<{ rejections: Array<{ reason: string }> }>(
        '/api/v1/rejections?device=bp-env1',
      );
      expect(rejections.map((r) => r.reason).sort()).toEqual(BROKEN_PAYLOADS.map((b) => b.reason).sort());
    },
    alerts: [],
    quiet: ['temperature'],
  },
  {
    scenario: 'out_of_range',
    fleet: {
      zones: [office('or-floor')],
      sensors: [{ id: 'or-env1', zone: 'or-floor', interval: '1m', metrics: ['temperature', 'humidity'] }],
      scenarios: [{ type: 'out_of_range', device: 'or-env1', metric: 'temperature', at: '5m', duration: '5m' }],
    },
    minutes: 15,
    async readings(run) {
      const temperatures = await run.points('or-env1', 'temperature', 0, 15);
      expect(temperatures).toHaveLength(10);
      expect(Math.max(...temperatures.map((p) => p.value))).toBeLessThan(30);
      expect(await run.points('or-env1', 'humidity', 0, 15)).toHaveLength(15);
      const { rejections } = await run.hub.json<{ rejections: Array<{ reason: string; detail: string }> }>(
        '/api/v1/rejections?device=or-env1',
      );
      expect(rejections).toHaveLength(5);
      for (const r of rejections)
        expect(r).toMatchObject({
          reason: 'out_of_range',
          detail: expect.stringContaining('temperature 900 °C') as unknown,
        });
    },
    alerts: [],
    quiet: ['temperature', 'humidity'],
  },
];

async function expectAlert(hub: TestHub, expected: ExpectedAlert): Promise<void> {
  await eventually(
    async () => {
      const body = await hub.json<{ alerts: Array<Record<string, unknown>> }>('/api/v1/alerts');
      const { rule, ...exact } = expected;
      return body.alerts.some(
        (a) =>
          (rule === undefined || String(a.rule).includes(rule)) && Object.entries(exact).every(([k, v]) => a[k] === v),
      );
    },
    { what: `alert ${JSON.stringify(expected)}` },
  );
}

describe.each(cases)('scenario $scenario', (c) => {
  it('produces the readings it documents, and its alerts', async () => {
    const start = morning();
    const floorRun = await startFloorRun({
      fleet: { site: { season: 'summer' }, ...c.fleet },
      start,
      ...(c.hub && { hub: c.hub }),
      ...(c.gatewayHold && { gatewayHold: c.gatewayHold.bind(c) }),
    });
    const { hub, floor } = floorRun;
    try {
      const began = Date.now();
      await floorRun.advanceTo(c.minutes);
      await floor.delivered();
      // Simulated time runs as fast as the hub acknowledges: minutes of floor in well under a minute.
      expect(Date.now() - began).toBeLessThan(30_000);
      const produced = floor.stats().produced;
      const query = (device: string, metric: string, from: number, to: number, extra = '') =>
        `/api/v1/readings?device=${device}&metric=${metric}&from=${start + from * MINUTE}&to=${start + to * MINUTE}${extra}`;
      const run: Run = {
        hub,
        start,
        floor,
        points: async (device, metric, from, to) =>
          (await hub.json<{ points: Point[] }>(query(device, metric, from, to, '&limit=100000'))).points,
        aggregate: async (device, metric, agg, from, to) => {
          const points = (await hub.json<{ points: Point[] }>(query(device, metric, from, to, `&agg=${agg}`))).points;
          if (points[0] === undefined) throw new Error(`no ${metric} from ${device} between minute ${from} and ${to}`);
          return points[0].value;
        },
      };
      // Everything acknowledged is in the journal; the store writer runs a little behind it.
      if (produced > 0) await storeCaughtUp(hub);
      await c.readings(run);
      for (const alert of c.alerts) await expectAlert(hub, alert);
      if (c.quiet) {
        const { alerts } = await hub.json<{ alerts: Array<{ rule: string; summary: string }> }>('/api/v1/alerts');
        const loud = alerts.filter((a) => c.quiet!.some((rule) => a.rule === rule || a.rule.startsWith(`${rule}.`)));
        expect(loud.map((a) => a.summary)).toEqual([]);
      }
    } finally {
      await floorRun.stop();
    }
  });
});
