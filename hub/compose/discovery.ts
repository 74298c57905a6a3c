// Home Assistant discovery and the zone states it points at, on the hub's broker
// (mqtt.home_assistant_discovery) and on bridges with out.discovery: the discovery messages at
// start (and, for a bridge, whenever it connects), a zone's latest value per metric every few
// seconds when it changed, and whether the zone has open alerts. Zones no longer configured have
// their discovery messages cleared, at start and at a reload (and, for a bridge, whenever it
// connects); a reload announces only what it changed.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BrokerRefusal, type BridgeLink } from '../bridges/link.ts';
import type { AlertView } from '../domain/alert.ts';
import { setFileAside } from '../domain/aside.ts';
import type { Journal } from '../journal/journal.ts';
import {
  DISCOVERY_TOPIC,
  discoveryMessages,
  zoneAlertsTopic,
  zoneStateTopic,
  type DiscoveryMessage,
} from '../notify/discovery.ts';
import { zoneLabel } from '../rules/wording.ts';
import type { SiteRules } from '../rules/site.ts';
import { NoticeLog } from '../telemetry/notices.ts';
import type { HubContext } from './context.ts';

const EVERY_MS = 5000;

export interface DiscoveryDeps {
  journal: Journal;
  publish: (topic: string, payload: string, options: { retain: boolean }) => Promise<void>;
  bridges: readonly BridgeLink[];
  rules: (at: number) => SiteRules;
  alerts: Pick<AlertView, 'alerts'>;
}

export function startDiscovery(ctx: HubContext, deps: DiscoveryDeps): void {
  const { config, log, now, lifecycle } = ctx;
  const local = config.mqtt.home_assistant_discovery;
  const links = deps.bridges.filter((l) => l.config.out.discovery);
  if (!local && links.length === 0) return;
  const prefix = config.mqtt.topic_prefix;
  // What an earlier start (or configuration) announced and this one does not: cleared, so Home
  // Assistant drops it. data_dir/discovery.json remembers what was announced, and a clear until
  // the hub's broker has taken it, for the next start to clear what this one could not.
  const file = join(config.data_dir, 'discovery.json');
  const notices = new NoticeLog(log, now);
  /** Not written, the file has the next start clear again what it names: told, and passed over. */
  const remember = (topics: Iterable<string>) => {
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify([...topics]));
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      notices.once('file', `Home Assistant discovery: ${file} could not be written: ${(err as Error).message}`);
    }
  };
  /**
   * What the file names, at start. One that does not hold a list of discovery topics (cut short by
   * a full disk, edited by hand) is set aside; one that cannot be read is passed over. Either is
   * told, and read as empty: the hub starts, and only clearing what an earlier configuration
   * announced is lost. Only discovery topics: a clear of any other would be the hub's own to undo.
   */
  const recalled = (): string[] => {
    const lost =
      'Zones removed from the configuration before this start may keep their entities in Home Assistant: delete them there.';
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      log.warn(`Home Assistant discovery: ${file} could not be read (${(err as Error).message}). ${lost}`);
      return [];
    }
    let topics: unknown;
    try {
      topics = JSON.parse(text);
    } catch {
      topics = undefined;
    }
    if (Array.isArray(topics) && topics.every((t) => typeof t === 'string' && DISCOVERY_TOPIC.test(t)))
      return topics as string[];
    const where = setFileAside(file, now());
    log.warn(`Home Assistant discovery: ${file} is not a list of announced topics, ${where}. ${lost}`);
    return [];
  };
  /** Topics cleared that the hub's broker has not taken the clear of yet. */
  const clearing = new Set<string>();
  let current = new Set<string>();
  /**
   * Every topic cleared since the start and not announced again: a bridge that connects is sent
   * their clears, so one that was away across several reloads misses none. At most the topics
   * the file named at start and those announced since.
   */
  const retired = new Set<string>();
  /** `before`: what was announced, and cleared but not taken, until now. */
  const plan = (rules: SiteRules, before: readonly string[]) => {
    const zones = rules.zones.map((z) => ({
      zone: z.zone,
      ...(z.name !== undefined && { name: z.name }),
      type: z.type,
      metrics: [...new Set(z.requirements.map((r) => r.metric))],
    }));
    const messages = discoveryMessages(config.site.name, prefix, zones);
    current = new Set(messages.map((m) => m.topic));
    const cleared = before.filter((t) => !current.has(t));
    for (const topic of clearing) if (current.has(topic)) clearing.delete(topic);
    if (local) for (const topic of cleared) clearing.add(topic);
    remember([...current, ...clearing]);
    for (const topic of cleared) retired.add(topic);
    for (const topic of current) retired.delete(topic);
    const clears: DiscoveryMessage[] = [...retired].map((topic) => ({ topic, payload: '' }));
    return {
      zones,
      wanted: new Map(zones.map((z) => [z.zone, new Set(z.metrics)])),
      announce: [...clears, ...messages],
    };
  };
  let { zones, wanted, announce } = plan(deps.rules(now()), recalled());
  const topicsOf = (list: typeof zones) =>
    new Set(list.flatMap((z) => [zoneStateTopic(prefix, z.zone), zoneAlertsTopic(prefix, z.zone)]));
  let zoneTopics = topicsOf(zones);
  /** A zone's state or alerts topic of a zone a reload removed: not to be told of again. */
  const gone = (topic: string) => topic.startsWith(`${prefix}/zones/`) && !zoneTopics.has(topic);
  const latest = new Map<string, Map<string, number>>();
  const changed = new Set<string>();
  const told = new Map<string, string>();
  /**
   * Messages for the next round, by topic: what a reload changed, and what a round could not get
   * out. All are retained, so only a topic's latest payload counts, and this holds at most one per
   * topic announced.
   */
  const waiting = new Map<string, string>();
  /** The bridges that have had everything since they connected. */
  const sentTo = new WeakSet<BridgeLink>();
  const bridgeFailed = (link: BridgeLink, err: unknown) =>
    notices.once(
      `bridge ${link.config.name}`,
      `Home Assistant discovery, bridge ${link.config.name}: ${(err as Error).message}; sent again in full`,
    );
  /** A message the bridge's broker refuses for good is told and passed over; any other failure ends the sending. */
  const toLink = async (link: BridgeLink, batch: readonly DiscoveryMessage[]) => {
    for (const m of batch)
      try {
        await link.publish({ topic: m.topic, payload: m.payload, retain: true, repeat: false, delivery: m.topic });
      } catch (err) {
        if (!(err instanceof BrokerRefusal)) throw err;
        notices.once(`refused ${link.config.name} ${m.topic}`, `Home Assistant discovery: ${err.message}`);
      }
  };
  /** The clears among messages the hub's broker took are done with. */
  const taken = (messages: readonly DiscoveryMessage[]) => {
    const before = clearing.size;
    for (const m of messages) if (m.payload === '') clearing.delete(m.topic);
    if (clearing.size !== before) remember([...current, ...clearing]);
  };
  /**
   * The hub's broker's refusals throw, with what it did not take, for the round to keep; a message
   * it refuses does not hold back the ones after it. A bridge's failure has it sent everything again.
   */
  const send = async (batch: readonly DiscoveryMessage[]) => {
    let refused: { error: Error; left: DiscoveryMessage[] } | undefined;
    if (local) {
      const left = new Set<DiscoveryMessage>();
      let error: Error | undefined;
      for (const m of batch)
        try {
          await deps.publish(m.topic, m.payload, { retain: true });
        } catch (err) {
          error ??= err as Error;
          left.add(m);
        }
      taken(batch.filter((m) => !left.has(m)));
      if (error) refused = { error, left: [...left] };
    }
    // One that has not had everything since it connected gets it all from catchUp().
    for (const link of links) {
      if (!link.connected || !sentTo.has(link)) continue;
      try {
        await toLink(link, batch);
      } catch (err) {
        sentTo.delete(link);
        bridgeFailed(link, err);
      }
    }
    if (refused) throw new RoundRefused(refused.error, refused.left);
  };
  const consumer = deps.journal.consume(
    'discovery',
    (entries) => {
      for (const e of entries) {
        if (e.type !== 'readings') continue;
        for (const r of e.readings) {
          // Devices outside every zone are the rules' "unassigned" zone. Only the metrics Home
          // Assistant was told of are kept: a device's own invented metrics are not its business.
          const zone = zoneLabel(r.zone);
          if (!wanted.get(zone)?.has(r.metric)) continue;
          const values = latest.get(zone) ?? new Map<string, number>();
          values.set(r.metric, r.value);
          latest.set(zone, values);
          changed.add(zone);
        }
      }
    },
    { from: 'end', durable: false },
  );
  let running: Promise<void> | undefined;
  /**
   * A bridge that (re)connected gets the discovery messages and the zones' states again: its
   * broker may have lost them, or never had them. Never throws.
   */
  const catchUp = async () => {
    for (const link of links)
      if (link.connected && !sentTo.has(link)) {
        const states = [...told].map(([zone, state]) => ({ topic: zoneAlertsTopic(prefix, zone), payload: state }));
        for (const [zone, values] of latest)
          states.push({ topic: zoneStateTopic(prefix, zone), payload: JSON.stringify(Object.fromEntries(values)) });
        try {
          await toLink(link, [...announce, ...states]);
          sentTo.add(link);
        } catch (err) {
          bridgeFailed(link, err);
        }
      } else if (!link.connected) sentTo.delete(link);
  };
  // The hub's broker first: a bridge's broker that does not answer holds back only the bridges.
  const round = async () => {
    try {
      await sendRound();
    } finally {
      await catchUp();
    }
  };
  const sendRound = async () => {
    const batch = new Map(waiting);
    waiting.clear();
    try {
      for (const zone of changed)
        batch.set(zoneStateTopic(prefix, zone), JSON.stringify(Object.fromEntries(latest.get(zone) ?? [])));
      changed.clear();
      for (const z of zones) {
        const state = deps.alerts.alerts({ state: 'firing', zone: z.zone, limit: 1 }).length > 0 ? 'ON' : 'OFF';
        if (told.get(z.zone) === state) continue;
        told.set(z.zone, state);
        batch.set(zoneAlertsTopic(prefix, z.zone), state);
      }
      await send([...batch].map(([topic, payload]) => ({ topic, payload })));
    } catch (err) {
      // What the broker did not take (all of it, had the round failed before sending) goes with
      // the next round: a state told as sent would not be told again until it changed. What came
      // for a topic meanwhile is newer and stays; a zone a reload removed meanwhile is not told of again.
      const left = err instanceof RoundRefused ? err.left : [...batch].map(([topic, payload]) => ({ topic, payload }));
      for (const m of left) if (!waiting.has(m.topic) && !gone(m.topic)) waiting.set(m.topic, m.payload);
      throw err;
    }
  };
  const tick = () => {
    running ??= round()
      .catch((err: unknown) =>
        notices.once('broker', `Home Assistant discovery: ${(err as Error).message}; sent again with the next round`),
      )
      .finally(() => (running = undefined));
  };
  // The start's announcements go with the first round, and with the next ones until taken.
  if (local) for (const m of announce) waiting.set(m.topic, m.payload);
  tick();
  const timer = setInterval(tick, EVERY_MS);
  timer.unref();
  lifecycle.add({
    name: 'Home Assistant discovery',
    stop: async () => {
      clearInterval(timer);
      await running;
      await consumer.stop();
    },
    // Parts take a reload on in the order they started: the rules have theirs by now.
    reconfigure: () => () => {
      const before = new Map(announce.map((m) => [m.topic, m.payload]));
      ({ zones, wanted, announce } = plan(deps.rules(now()), [...current, ...clearing]));
      zoneTopics = topicsOf(zones);
      for (const zone of [...latest.keys()]) if (!wanted.has(zone)) latest.delete(zone);
      for (const zone of [...told.keys()]) if (!wanted.has(zone)) told.delete(zone);
      for (const topic of [...waiting.keys()]) if (gone(topic)) waiting.delete(topic);
      // Home Assistant is told what changed (a zone added, renamed or gone), not every zone again.
      // A clear not taken yet is already waiting, or in the round under way.
      for (const m of announce) if (before.get(m.topic) !== m.payload) waiting.set(m.topic, m.payload);
      tick();
    },
  });
}

/** The hub's broker refused some of a round's messages: `left`, for the next round. */
class RoundRefused extends Error {
  constructor(
    cause: Error,
    readonly left: readonly DiscoveryMessage[],
  ) {
    super(cause.message, { cause });
  }
}
