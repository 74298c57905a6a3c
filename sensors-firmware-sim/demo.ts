// `npm run demo`: the hub on its embedded defaults (SQLite in a temporary folder) and the 40-seat
// floor of demo-floor.yaml in real time, with its RS-485 gateway on a pty pair when socat is
// installed. Ctrl-C stops everything and removes the temporary folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadConfig } from '../hub/config/config.ts';
import { startHub, type Hub } from '../hub/hub.ts';
import { realTimeClock } from './clock.ts';
import { Floor, startGatewayLines } from './floor.ts';
import { loadFleet } from './fleet.ts';
import { hubDeclarations } from './hub-declarations.ts';
import type { PtyPair } from './pty.ts';

const BIND = '127.0.0.1';

/** The port if nothing listens on it, else 0 (the system picks a free one). */
function portOrAny(port: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(0));
    probe.listen(port, BIND, () => probe.close(() => resolve(port)));
  });
}

async function main(): Promise<void> {
  let fleet = loadFleet(fileURLToPath(new URL('./demo-floor.yaml', import.meta.url)));
  const dataDir = mkdtempSync(join(tmpdir(), 'floorwatch-demo-'));
  const [httpPort, mqttPort] = [await portOrAny(8080), await portOrAny(1883)];

  let lines = new Map<string, PtyPair>();
  try {
    lines = await startGatewayLines(fleet);
  } catch (err) {
    process.stdout.write(
      `(no serial gateway in this demo: socat could not make a pty pair — ${(err as Error).message.split('\n')[0]}; install it with apt-get install socat)\n`,
    );
    fleet = { ...fleet, gateways: [], scenarios: fleet.scenarios.filter((s) => s.type !== 'gateway_unplugged') };
  }

  const declarations = hubDeclarations(fleet, lines);
  const config = { ...declarations, site: { ...declarations.site, name: 'floorwatch demo' } };
  writeFileSync(join(dataDir, 'floorwatch.yaml'), stringify(config));
  const hub: Hub = await startHub({
    config: loadConfig({
      env: {
        FLOORWATCH_CONFIG: join(dataDir, 'floorwatch.yaml'),
        FLOORWATCH_DATA_DIR: dataDir,
        FLOORWATCH_BIND: BIND,
        FLOORWATCH_HTTP_PORT: String(httpPort),
        FLOORWATCH_MQTT_PORT: String(mqttPort),
        FLOORWATCH_LOG_LEVEL: 'warn',
      },
    }),
  });

  const clock = realTimeClock();
  const floor = new Floor({
    fleet,
    clock,
    url: `mqtt://${BIND}:${hub.mqttPort}`,
    lines,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  floor.start();

  const api = `${hub.url}/api/v1`;
  const busy = [
    httpPort === 0 && `HTTP 8080 was busy, using ${hub.httpPort}`,
    mqttPort === 0 && `MQTT 1883 was busy, using ${hub.mqttPort}`,
  ].filter(Boolean);
  process.stdout.write(
    [
      '',
      `floorwatch demo: ${fleet.sensors.length + fleet.devices.length} simulated devices on ${fleet.zones.length} zones${[...lines].map(([gateway, line]) => `, and serial gateway ${gateway} on ${line.hubPath}`).join('')}`,
      ...(busy.length ? [`  (${busy.join('; ')})`] : []),
      `  floor page     ${hub.url}/   (open it in a browser)`,
      `  API            ${api}   (description: ${hub.url}/docs)`,
      `  devices        curl '${api}/devices?zone=floor-a'`,
      `  CO₂, floor A   curl '${api}/readings?zone=floor-a&metric=co2&from=-5m&every=1m&agg=mean'`,
      `  server room    curl '${api}/readings?zone=server-room&metric=temperature&from=-15m&every=1m&agg=max'`,
      `  alerts         curl '${api}/alerts'   (the server room loses cooling 1 minute in)`,
      `  live feed      curl -N '${api}/events?zone=server-room'`,
      `  MQTT           mosquitto_sub -h ${BIND} -p ${hub.mqttPort} -t 'floorwatch/#' -v`,
      `  data           ${dataDir} (removed when the demo stops)`,
      'Ctrl-C stops the demo.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write('stopping the demo: devices disconnect, then the hub flushes and stops\n');
    await floor.stop();
    await hub.stop();
    for (const line of lines.values()) await line.dispose();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`the demo could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
