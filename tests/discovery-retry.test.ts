// Home Assistant discovery when a publish fails: what the round could not get out goes with the
// next one. A real journal; the broker's publish is a function that refuses while the test says so.
// And when the file of what an earlier start announced cannot be read: the hub still starts.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import type { BridgeLink } from '../hub/bridges/link.ts';
import { startDiscovery, type DiscoveryDeps } from '../hub/compose/discovery.ts';
import { Lifecycle } from '../hub/compose/lifecycle.ts';
import { configChanges } from '../hub/config/changes.ts';
import { loadConfig, type Config } from '../hub/config/config.ts';
import { Journal } from '../hub/journal/journal.ts';
import { siteRules } from '../hub/rules/site.ts';
import { createMetrics } from '../hub/telemetry/metrics.ts';
import { eventually, tempDir } from './support/hub.ts';

function configWith(dir: string, zones: Array<{ id: string; name?: string }>): Config {
  const file = join(dir, 'floorwatch.yaml');
  writeFileSync(
    file,
    stringify({
      zones: zones.map((z) => ({ ...z, type: 'call_floor' })),
      mqtt: { home_assistant_discovery: true },
    }),
  );
  return loadConfig({ env: { FLOORWATCH_CONFIG: file, FLOORWATCH_DATA_DIR: dir } });
}

/** Discovery on a real journal in `dir`: the test's publish (and rules, alerts, bridges; none by default). */
async function startIn(
  dir: string,
  config: Config,
  deps: Pick<DiscoveryDeps, 'publish'> & Partial<Pick<DiscoveryDeps, 'rules' | 'alerts' | 'bridges'>>,
  log: Logger = pino({ level: 'silent' }),
): Promise<{ lifecycle: Lifecycle; journal: Journal }> {
  const lifecycle = new Lifecycle(log);
  const journal = await Journal.open({ dir: join(dir, 'journal') });
  startDiscovery(
    { config, log, metrics: createMetrics(), now: Date.now, lifecycle },
    { journal, bridges: [], rules: (at) => siteRules(config, at), alerts: { alerts: () => [] }, ...deps },
  );
  return { lifecycle, journal };
}

describe('Home Assistant discovery, when its broker refuses a publish', () => {
  let lifecycle: Lifecycle | undefined;
  let journal: Journal | undefined;
  afterEach(async () => {
    await lifecycle?.stop();
    await journal?.close();
  });

  it('sends again with the next round what a refused round held: the zone’s alert state and the reload’s new name', async () => {
    const dir = tempDir('floorwatch-discovery-retry-');
    const config = configWith(dir, [{ id: 'floor-a' }]);
    const published: Array<[string, string]> = [];
    const refused: Array<[string, string]> = [];
    let refusing = true;
    let current = config;
    const firing = new Set<string>();
    ({ lifecycle, journal } = await startIn(dir, config, {
      // The discovery messages go out; every other message is refused while `refusing`.
      publish: async (topic, payload) => {
        if (refusing && !topic.startsWith('homeassistant/')) {
          refused.push([topic, payload]);
          throw new Error('the broker refused the message');
        }
        published.push([topic, payload]);
      },
      rules: (at) => siteRules(current, at),
      alerts: { alerts: ({ zone }) => (zone !== undefined && firing.has(zone) ? [{} as never] : []) },
    }));
    const alertsTopic = 'floorwatch/zones/floor-a/alerts';
    await eventually(() => published.some(([topic]) => topic.startsWith('homeassistant/')), {
      what: 'the discovery messages at start',
    });
    await eventually(() => refused.some(([topic]) => topic === alertsTopic), {
      what: 'the first round, refused',
    });
    expect(published.some(([topic]) => topic === alertsTopic)).toBe(false);

    // A reload renames the zone; its round is refused too.
    const renamed = configWith(dir, [{ id: 'floor-a', name: 'Floor A, east wing' }]);
    const announced = published.length;
    current = renamed;
    const newName = '"name":"Floor A, east wing (floorwatch)"';
    // The first round has ended (its refusal was logged) once the reload's round can start.
    await new Promise((resolve) => setImmediate(resolve));
    expect(lifecycle.reconfigure(renamed, configChanges(config, renamed))).toEqual([]);
    // The alert state, kept from the first round, is refused again; the new name goes past it.
    await eventually(() => refused.filter(([topic]) => topic === alertsTopic).length === 2, {
      what: 'the reload’s round, refused',
    });
    await new Promise((resolve) => setImmediate(resolve));
    const sent = () => published.slice(announced);
    expect(sent().some(([, payload]) => payload.includes(newName))).toBe(true);
    expect(sent().some(([topic]) => topic === alertsTopic)).toBe(false);
    refusing = false;
    // The next round (a reload asks for one at once) carries what was refused before it.
    lifecycle.reconfigure(renamed, configChanges(renamed, renamed));
    await eventually(() => sent().some(([topic, payload]) => topic === alertsTopic && payload === 'OFF'), {
      timeoutMs: 5_000,
      what: 'the zone’s alert state, sent again',
    });
    // Once each: the second reload changed nothing, and the refused messages went once taken.
    const topics = sent().map(([topic]) => topic);
    expect(new Set(topics).size).toBe(topics.length);
  });

  it('sends the start’s announcements and clears with a later round, and a clear never taken at the next start', async () => {
    const dir = tempDir('floorwatch-discovery-start-');
    const config = configWith(dir, [{ id: 'floor-a' }]);
    // An earlier start announced a zone since removed from the configuration.
    const oldTopic = 'homeassistant/sensor/floorwatch_site_floor-old_noise/config';
    const file = join(dir, 'discovery.json');
    writeFileSync(file, JSON.stringify([oldTopic]));
    const remembered = () => JSON.parse(readFileSync(file, 'utf8')) as string[];
    const start = async (publish: DiscoveryDeps['publish']) => {
      ({ lifecycle, journal } = await startIn(dir, config, { publish }));
    };
    const cleared = (list: Array<[string, string]>) =>
      list.filter(([topic, payload]) => topic === oldTopic && payload === '').length;

    // The broker refuses everything: the start's round, and the one a reload asks for at once.
    const refused: Array<[string, string]> = [];
    await start(async (topic, payload) => {
      refused.push([topic, payload]);
      throw new Error('the broker refused the message');
    });
    await eventually(() => cleared(refused) === 1, { what: 'the start’s clear, refused' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lifecycle!.reconfigure(config, configChanges(config, config))).toEqual([]);
    await eventually(() => cleared(refused) === 2, { what: 'the clear, tried again with the next round' });
    // The hub stops with the clear not taken: the file still names the topic for the next start.
    await lifecycle!.stop();
    await journal!.close();
    expect(remembered()).toContain(oldTopic);

    // The next start: the broker takes the clear, refuses the message after it once, then takes all.
    const published: Array<[string, string]> = [];
    let calls = 0;
    await start(async (topic, payload) => {
      if (calls++ === 1) throw new Error('the broker refused the message');
      published.push([topic, payload]);
    });
    await eventually(() => cleared(published) === 1, { what: 'the clear, at the next start' });
    await eventually(() => !remembered().includes(oldTopic), { what: 'the clear, done with' });
    await new Promise((resolve) => setImmediate(resolve));
    lifecycle!.reconfigure(config, configChanges(config, config));
    // The next round sends what the broker did not take, and only that: each topic once.
    await eventually(
      () => published.length === calls - 1 && remembered().every((t) => published.some(([p]) => p === t)),
      {
        what: 'every announcement, the one refused sent again',
      },
    );
    const topics = published.map(([topic]) => topic);
    expect(new Set(topics).size).toBe(topics.length);
    expect(cleared(published)).toBe(1);
    const announced = published
      .filter(([topic, payload]) => topic.startsWith('homeassistant/') && payload !== '')
      .map(([topic]) => topic);
    expect(announced.length).toBeGreaterThan(1);
    expect(remembered().sort()).toEqual(announced.sort());
  });

  it('sends the rest of a round past a message the broker refuses every time, and tries that one again', async () => {
    const dir = tempDir('floorwatch-discovery-refused-one-');
    const config = configWith(dir, [{ id: 'floor-a' }]);
    const published: string[] = [];
    const refused: string[] = [];
    let refusedFor: string | undefined;
    ({ lifecycle, journal } = await startIn(dir, config, {
      // The round's first message is refused every time it is sent.
      publish: async (topic) => {
        refusedFor ??= topic;
        if (topic === refusedFor) {
          refused.push(topic);
          throw new Error('the broker refused the message');
        }
        published.push(topic);
      },
    }));
    await eventually(() => published.includes('floorwatch/zones/floor-a/alerts'), { what: 'the first round' });
    expect(refused).toHaveLength(1);
    expect(published.filter((topic) => topic.startsWith('homeassistant/')).length).toBeGreaterThan(1);
    await new Promise((resolve) => setImmediate(resolve));
    lifecycle.reconfigure(config, configChanges(config, config));
    await eventually(() => refused.length === 2, { what: 'the refused message, tried again' });
    expect(published).not.toContain(refusedFor);
    expect(new Set(published).size).toBe(published.length);
  });

  it('publishes on the hub’s broker while a bridge’s broker never answers', async () => {
    const dir = tempDir('floorwatch-discovery-silent-bridge-');
    const config = configWith(dir, [{ id: 'floor-a' }]);
    const published: string[] = [];
    // A bridge connected to a broker that takes every message and never acknowledges one.
    let goAway!: (err: Error) => void;
    const never = new Promise<void>((_, reject) => (goAway = reject));
    const silent: BridgeLink = {
      name: 'site',
      config: { name: 'site', out: { discovery: true } } as BridgeLink['config'],
      connected: true,
      unacknowledged: 0,
      publish: () => never,
      close: async () => {},
    };
    try {
      ({ lifecycle, journal } = await startIn(dir, config, {
        publish: async (topic) => {
          published.push(topic);
        },
        bridges: [silent],
      }));
      await eventually(() => published.includes('floorwatch/zones/floor-a/alerts'), { what: 'the first round' });
      expect(published.filter((topic) => topic.startsWith('homeassistant/')).length).toBeGreaterThan(1);
    } finally {
      goAway(new Error('the bridge’s broker went away'));
    }
  });

  it('keeps a round’s messages when the round fails before sending them', async () => {
    const dir = tempDir('floorwatch-discovery-failed-round-');
    const config = configWith(dir, [{ id: 'floor-a' }]);
    const published: Array<[string, string]> = [];
    let failures = 1;
    ({ lifecycle, journal } = await startIn(dir, config, {
      publish: async (topic, payload) => {
        published.push([topic, payload]);
      },
      // The first round fails while it gathers the zones' alert states, before it sends anything.
      alerts: {
        alerts: () => {
          if (failures-- > 0) throw new Error('the alerts could not be read');
          return [];
        },
      },
    }));
    expect(failures).toBe(0);
    expect(published).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    lifecycle.reconfigure(config, configChanges(config, config));
    await eventually(() => published.some(([topic]) => topic === 'floorwatch/zones/floor-a/alerts'), {
      what: 'the next round',
    });
    const announced = published.filter(([topic]) => topic.startsWith('homeassistant/'));
    expect(announced.length).toBeGreaterThan(1);
    expect(new Set(announced.map(([topic]) => topic)).size).toBe(announced.length);
  });
});

/** The discovery files set aside in the data directory, by name. */
const setAside = (dir: string) =>
  readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.startsWith('discovery.json.unreadable'))
    .map((e) => e.name);

describe('Home Assistant discovery, when the file of what was announced cannot be read', () => {
  it.each([
    ['cut short', '["homeassistant/sensor/floorwatch_site_floor-old_noise/con'],
    ['not a list', '{"__proto__":["homeassistant/#"],"constructor":1}'],
    ['a wildcard', '["homeassistant/#"]'],
    ['not a topic', '["", 7]'],
    ['a control character', '["homeassistant/sensor/floorwatch_site_a\\u0001b/config"]'],
    ['not a discovery topic', '["floorwatch/hub/status"]'],
  ])('starts anyway, announces, and sets the file aside: %s', async (_, content) => {
    const dir = tempDir('floorwatch-discovery-unreadable-');
    const config = configWith(dir, [{ id: 'floor-a' }]);
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const file = join(dir, 'discovery.json');
    writeFileSync(file, content);
    const published: Array<[string, string]> = [];
    const { lifecycle, journal } = await startIn(
      dir,
      config,
      {
        publish: async (topic, payload) => {
          published.push([topic, payload]);
        },
      },
      log,
    );
    try {
      await eventually(() => published.some(([topic]) => topic === 'floorwatch/zones/floor-a/alerts'), {
        what: 'the first round',
      });
    } finally {
      await lifecycle.stop();
      await journal.close();
    }
    // Nothing cleared from what could not be read; the zone announced; the file written anew.
    expect(published.filter(([, payload]) => payload === '')).toEqual([]);
    const announced = published.filter(([topic]) => topic.startsWith('homeassistant/')).map(([topic]) => topic);
    expect(announced.length).toBeGreaterThan(1);
    expect((JSON.parse(readFileSync(file, 'utf8')) as string[]).sort()).toEqual(announced.sort());
    const aside = setAside(dir);
    expect(aside.map((name) => readFileSync(join(dir, name), 'utf8'))).toEqual([content]);
    const warning = lines
      .map((l) => JSON.parse(l) as { msg: string })
      .find((l) => l.msg.includes('is not a list of announced topics'));
    expect(warning?.msg).toContain(`set aside as ${join(dir, aside[0] ?? '')}`);
    expect(warning?.msg).toContain('delete them there');
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('keeps the files it set aside, one start after another: the newest five, past a directory named like them', async () => {
    const dir = tempDir('floorwatch-discovery-unreadable-');
    const config = configWith(dir, [{ id: 'floor-a' }]);
    const file = join(dir, 'discovery.json');
    // Sorted first among them: the clean-up passes it over, and leaves it where it is.
    const directory = join(dir, 'discovery.json.unreadable-0000');
    mkdirSync(directory);
    const contents = Array.from({ length: 7 }, (_, i) => `["cut short ${i}`);
    for (const content of contents) {
      writeFileSync(file, content);
      const started = await startIn(dir, config, { publish: async () => undefined });
      await started.lifecycle.stop();
      await started.journal.close();
    }
    expect(
      setAside(dir)
        .map((name) => readFileSync(join(dir, name), 'utf8'))
        .sort(),
    ).toEqual(contents.slice(2));
    expect(statSync(directory).isDirectory()).toBe(true);
  });
});
