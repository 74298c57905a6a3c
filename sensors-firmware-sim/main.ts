// `npm run sim -- …`: a simulated floor from a fleet file or flags, or load mode for benchmarks.
//
//   npm run sim -- --fleet floor.yaml [--url mqtt://127.0.0.1:1883] [--speed 60] [--start 2025-03-03T08:00:00Z] [--duration 8h]
//   npm run sim -- --zone floor-a --seats 20 --sensors 2 [--interval 10s] [--format senml] [--headsets] [--scenario hvac_failure@10m]
//   npm run sim -- load --devices 100 --rate 10 [--format senml --batch 10] [--messages 1000] [--duration 60s]
import { parseArgs } from 'node:util';
import { parseDuration } from '../hub/config/duration.ts';
import { realTimeClock } from './clock.ts';
import { Floor, startGatewayLines } from './floor.ts';
import { FleetError, loadFleet, parseFleet, type Fleet } from './fleet.ts';
import { runLoad } from './load.ts';

const REPORT_EVERY_MS = 60_000;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function durationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) fail(`--${name} "${value}" is not a duration: use e.g. 90s, 15m or 8h`);
  return ms;
}

function numberFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} "${value}" must be a number of 0 or more`);
  return n;
}

async function load(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      devices: { type: 'string', default: '10' },
      rate: { type: 'string', default: '1' },
      format: { type: 'string', default: 'json' },
      batch: { type: 'string', default: '10' },
      messages: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '60s' },
      username: { type: 'string' },
      password: { type: 'string' },
    },
  });
  if (values.format !== 'json' && values.format !== 'senml' && values.format !== 'heartbeat')
    fail(`--format "${values.format}" must be json, senml or heartbeat`);
  const report = await runLoad({
    url: values.url,
    devices: Math.max(1, Math.floor(numberFlag('devices', values.devices, 10))),
    rate: numberFlag('rate', values.rate, 1),
    format: values.format,
    batch: Math.max(1, Math.floor(numberFlag('batch', values.batch, 10))),
    messages: Math.floor(numberFlag('messages', values.messages, 1000)),
    durationMs: durationFlag('duration', values.duration) ?? 60_000,
    ...(values.username !== undefined && { username: values.username }),
    ...(values.password !== undefined && { password: values.password }),
  });
  process.stdout.write(
    `${report.connected} of ${report.devices} devices connected; ${report.messagesAcked} of ${report.messagesSent} messages acknowledged ` +
      `(${report.readingsAcked} readings) in ${(report.elapsedMs / 1000).toFixed(1)} s: ${report.readingsPerSecond} readings/s\n${JSON.stringify(report)}\n`,
  );
  process.exit(report.messagesAcked === report.messagesSent && report.connected === report.devices ? 0 : 1);
}

/** A small floor from flags: one zone, its sensors, and optionally a headset, phone and PC per seat. */
function fleetFromFlags(values: Record<string, string | boolean | string[] | undefined>): Fleet {
  const zone = String(values.zone ?? 'floor-a');
  const seats = Number(values.seats ?? 20);
  const perSeat = values.headsets === true ? (['headset', 'phone', 'pc'] as const) : [];
  const scenarios = ((values.scenario as string[] | undefined) ?? []).map((text) => {
    const [type, at = '0s'] = text.split('@');
    return { type, zone, at };
  });
  return parseFleet(
    {
      zones: [{ id: zone, type: values['zone-type'] ?? 'call_floor', seats }],
      sensors: [
        {
          id: `env-${zone}-{n}`,
          count: Number(values.sensors ?? 1),
          zone,
          interval: values.interval ?? '10s',
          format: values.format ?? 'json',
        },
      ],
      devices: perSeat.map((kind) => ({
        id: `${kind}-${zone}-{n}`,
        count: Math.max(1, seats),
        kind,
        zone,
        heartbeat_interval: '30s',
      })),
      scenarios,
    },
    'the command line',
  );
}

async function floor(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      fleet: { type: 'string' },
      url: { type: 'string' },
      speed: { type: 'string', default: '1' },
      start: { type: 'string' },
      duration: { type: 'string' },
      zone: { type: 'string' },
      'zone-type': { type: 'string' },
      seats: { type: 'string' },
      sensors: { type: 'string' },
      interval: { type: 'string' },
      format: { type: 'string' },
      headsets: { type: 'boolean' },
      scenario: { type: 'string', multiple: true },
    },
  });
  const fleet = values.fleet ? loadFleet(values.fleet) : fleetFromFlags(values);
  const speed = numberFlag('speed', values.speed, 1);
  if (speed <= 0) fail('--speed must be above 0');
  const start = values.start === undefined ? undefined : Date.parse(values.start);
  if (start !== undefined && Number.isNaN(start))
    fail(`--start "${values.start}" is not a date: use ISO 8601, e.g. 2025-03-03T08:00:00Z`);
  const clock = realTimeClock({ speed, ...(start !== undefined && { start }) });
  const log = (line: string) => process.stdout.write(`${new Date(clock.now()).toISOString()} ${line}\n`);
  const lines = await startGatewayLines(fleet);
  const sim = new Floor({ fleet, clock, log, lines, ...(values.url && { url: values.url }) });
  sim.start();
  const url = values.url ?? fleet.mqtt.url;
  log(
    `simulating ${fleet.zones.length} zone(s), ${fleet.sensors.length} sensor(s) and ${fleet.devices.length} other device(s) against ${url}, ${speed}× real time`,
  );
  // The pty pairs are new on every run: the hub's serial section has to name these paths.
  for (const [gateway, line] of lines) log(`serial gateway ${gateway}: the hub's port is ${line.hubPath}`);
  for (const s of fleet.scenarios)
    log(
      `scenario ${s.type} at +${s.at / 60_000} min${s.duration !== undefined ? ` for ${s.duration / 60_000} min` : ''}`,
    );

  const report = setInterval(() => {
    const s = sim.stats();
    log(
      `${s.connected}/${s.devices} connected; ${s.produced} readings taken, ${s.acked} acknowledged, ${s.buffered} waiting in offline buffers${s.dropped ? `, ${s.dropped} lost to full buffers` : ''}`,
    );
  }, REPORT_EVERY_MS);
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    clearInterval(report);
    log('stopping: devices say offline and disconnect');
    await sim.stop();
    for (const line of lines.values()) await line.dispose();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  const duration = durationFlag('duration', values.duration);
  if (duration !== undefined) setTimeout(() => void stop(), duration / speed);
}

const [command, ...rest] = process.argv.slice(2);
(command === 'load' ? load(rest) : floor(process.argv.slice(2))).catch((err: unknown) => {
  if (err instanceof FleetError) fail(`the simulator cannot start: ${err.message}`);
  fail(`the simulator cannot start: ${err instanceof Error ? err.message : String(err)}`);
});
