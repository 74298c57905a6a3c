// What a web page in the operator's browser can do to an open hub on the same machine, in a real
// browser (Debian's chromium through playwright-core). A page served from another origin tries
// MQTT over WebSocket (a retained "device offline" and a made-up reading) and the live feed; a page
// reaching the hub through a DNS name of its own (a rebinding, played here by chromium's host
// resolver rules) tries the same from "inside". Both are refused, nothing is journaled or
// retained, and the hub's own floor page still follows its live feed; a page listed under
// http.allowed_origins is let in.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBrowser, type TestBrowser } from './support/browser.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

const CONFIG = {
  zones: [{ id: 'floor-a', name: 'Floor A' }],
  devices: [{ id: 'env-a1', kind: 'sensor', zone: 'floor-a' }],
};

/**
 * Runs in the page: MQTT 3.1.1 by hand over a WebSocket (CONNECT, then two QoS 1 PUBLISHes: a
 * retained "offline" on a real device's status and a reading of a device that does not exist), then an
 * EventSource on the live feed. Plain JavaScript text, so nothing of the test's build reaches the page.
 */
const USE_THE_HUB = String.raw`async ({ mqttUrl, feedUrl }) => {
  const utf8 = new TextEncoder();
  const text = (s) => { const b = utf8.encode(s); return [b.length >> 8, b.length & 255, ...b]; };
  const packet = (first, body) => new Uint8Array([first, body.length, ...body]);
  const connect = packet(0x10, [...text('MQTT'), 4, 2, 0, 60, ...text('page-client')]);
  const publish = (topic, payload, id, retain) => packet(0x32 | (retain ? 1 : 0), [...text(topic), id >> 8, id & 255, ...utf8.encode(payload)]);
  const mqtt = await new Promise((resolve) => {
    const socket = new WebSocket(mqttUrl, 'mqtt');
    socket.binaryType = 'arraybuffer';
    let opened = false;
    let received = 0;
    let published = false;
    socket.onopen = () => { opened = true; socket.send(connect); };
    socket.onmessage = (e) => {
      // A CONNACK may come in pieces: count bytes, 4 for it and 4 for each PUBACK.
      received += e.data.byteLength;
      if (received >= 4 && !published) {
        published = true;
        socket.send(publish('floorwatch/devices/env-a1/status', 'offline', 1, true));
        socket.send(publish('floorwatch/devices/poison-1/telemetry', '{"co2":9999}', 2, false));
      }
      if (received >= 12) socket.close();
    };
    socket.onclose = () => resolve({ opened, acknowledged: Math.max(0, (received - 4) / 4) });
  });
  const feed = await new Promise((resolve) => {
    const source = new EventSource(feedUrl);
    source.onopen = () => { source.close(); resolve('open'); };
    source.onerror = () => { const refused = source.readyState === EventSource.CLOSED; source.close(); resolve(refused ? 'refused' : 'error'); };
  });
  return { mqtt, feed };
}`;

interface Outcome {
  mqtt: { opened: boolean; acknowledged: number };
  feed: 'open' | 'refused' | 'error';
}

/** A page of another site: it runs the attempt as soon as it loads, against the hub port in its query. */
function startForeignSite(): Promise<Server> {
  const page = `<!doctype html><title>Lunch menu</title><script>
const hub = new URLSearchParams(location.search).get('hub');
window.outcome = (${USE_THE_HUB})({ mqttUrl: 'ws://127.0.0.1:' + hub + '/mqtt', feedUrl: 'http://127.0.0.1:' + hub + '/api/v1/events' });
</script>`;
  const server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page),
  );
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('web pages and the open hub', () => {
  let hub: TestHub;
  let foreign: Server;
  let foreignOrigin: string;
  let browser: TestBrowser;
  let page: Page;
  let device: MqttClient;

  const port = () => hub.hub.httpPort;
  const refusedCount = async (reason: string) =>
    Number(
      new RegExp(`floorwatch_http_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(
        await (await hub.api('/metrics')).text(),
      )?.[1] ?? 0,
    );
  const retainedStatus = async () => {
    const client = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'status-reader', reconnectPeriod: 0 });
    try {
      const message = new Promise<string>((resolve) =>
        client.once('message', (_topic, payload) => resolve(payload.toString())),
      );
      await client.subscribeAsync('floorwatch/devices/env-a1/status', { qos: 1 });
      return await message;
    } finally {
      await client.endAsync();
    }
  };
  const nothingFromThePage = async () => {
    expect(await retainedStatus()).toBe('online');
    expect((await hub.api('/api/v1/devices/poison-1')).status).toBe(404);
    expect(
      (await hub.json<{ points: unknown[] }>('/api/v1/readings?device=poison-1&metric=co2&from=-1h')).points,
    ).toEqual([]);
  };

  beforeAll(async () => {
    hub = await startTestHub({ config: CONFIG });
    device = await mqtt.connectAsync(hub.mqttUrl, { clientId: 'env-a1' });
    await device.publishAsync('floorwatch/devices/env-a1/status', 'online', { qos: 1, retain: true });
    foreign = await startForeignSite();
    foreignOrigin = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`;
    browser = await testBrowser({
      // A DNS name that answers 127.0.0.1, as an attacker's name does once rebound.
      args: ['--host-resolver-rules=MAP rebound.example 127.0.0.1'],
    });
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
    await device?.endAsync();
    foreign?.closeAllConnections();
    await new Promise((resolve) => (foreign ? foreign.close(resolve) : resolve(undefined)));
    await hub?.dispose();
  });

  it('refuses MQTT over WebSocket and the live feed to a page from another origin; nothing it sent is kept', async () => {
    await page.goto(`${foreignOrigin}/?hub=${port()}`);
    const outcome = await page.evaluate<Outcome>('window.outcome');
    expect(outcome).toEqual({ mqtt: { opened: false, acknowledged: 0 }, feed: 'refused' });
    // The feed is also closed to it by CORS; the count shows the hub itself turned both away.
    expect(await refusedCount('origin')).toBe(2);
    await nothingFromThePage();
  });

  it('refuses a page that reaches the hub through a DNS name of its own', async () => {
    const response = await page.goto(`http://rebound.example:${port()}/`);
    expect(response?.status()).toBe(421);
    expect(await response?.text()).toMatch(/answers only when called by this machine's own name/);
    const outcome = await page.evaluate<Outcome>(
      `(${USE_THE_HUB})({ mqttUrl: 'ws://rebound.example:${port()}/mqtt', feedUrl: '/api/v1/events' })`,
    );
    expect(outcome).toEqual({ mqtt: { opened: false, acknowledged: 0 }, feed: 'refused' });
    expect(await refusedCount('host')).toBeGreaterThanOrEqual(3);
    await nothingFromThePage();
  });

  it('still serves its own floor page live, at 127.0.0.1 and at localhost, and its own pages may use /mqtt', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      await page.goto(`http://${host}:${port()}/`);
      await page.locator('#live', { hasText: 'Live' }).waitFor({ timeout: 10_000 });
      const co2 = host === 'localhost' ? 720 : 710;
      await device.publishAsync('floorwatch/devices/env-a1/telemetry', JSON.stringify({ co2 }), { qos: 1 });
      await page
        .locator('[data-zone="floor-a"] [data-metric="co2"] .value', { hasText: new RegExp(`^${co2}$`) })
        .waitFor({ timeout: 10_000 });
    }
    // The same attempt from the hub's own origin is served: the check is about where a page comes from.
    const own = await page.evaluate<Outcome>(
      `(${USE_THE_HUB})({ mqttUrl: 'ws://localhost:${port()}/mqtt', feedUrl: '/api/v1/events' })`,
    );
    expect(own).toEqual({ mqtt: { opened: true, acknowledged: 2 }, feed: 'open' });
    await eventually(async () => (await hub.api('/api/v1/devices/poison-1')).status === 200, {
      what: "the reading sent from the hub's own page",
    });
  });

  it('lets in a page whose origin is listed under http.allowed_origins', async () => {
    const listing = await startTestHub({ config: { ...CONFIG, http: { allowed_origins: [foreignOrigin] } } });
    try {
      await page.goto(`${foreignOrigin}/?hub=${listing.hub.httpPort}`);
      const outcome = await page.evaluate<Outcome>('window.outcome');
      // The WebSocket is served; the feed is still closed by the browser, since the hub grants no CORS.
      expect(outcome.mqtt).toEqual({ opened: true, acknowledged: 2 });
      expect(await (await listing.api('/metrics')).text()).not.toMatch(
        /floorwatch_http_refused_total\{reason="origin"\} [1-9]/,
      );
    } finally {
      await listing.dispose();
    }
  });
});
