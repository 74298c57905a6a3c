// The rule engine on a hand-driven clock: a real ledger (SQLite in a temp dir), entries fed as the
// journal would, and every transition captured, so hours of floor time run in milliseconds.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../hub/config/config.ts';
import type { Entry, Reading, StatusChange } from '../hub/domain/reading.ts';
import { RuleEngine, type AlertSink, type HubStatus } from '../hub/rules/engine.ts';
import { AlertLedger } from '../hub/rules/ledger.ts';
import type { RuleSettings, RuleState } from '../hub/rules/lifecycle.ts';
import { RuleBook } from '../hub/rules/rulebook.ts';
import { ruleSettings } from '../hub/rules/site.ts';
import type { Timers } from '../hub/domain/timers.ts';
import { tempDir, testEnv } from './support/hub.ts';
import type { Alert, AlertEvent, AlertView } from '../hub/domain/alert.ts';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
/** A Wednesday in January at 09:00 local time: winter, inside the 06:00 shift. */
export const T0 = new Date(2026, 0, 14, 9, 0, 0).getTime();

/** A clock the test moves, with timers that fire as it passes them. */
export class ManualClock implements Timers {
  t: number;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;

  constructor(start: number) {
    this.t = start;
  }

  now = (): number => this.t;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Moves the clock, firing each timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }

  pendingTimers(): number {
    return this.timers.length;
  }
}

export interface EngineFixture {
  engine: RuleEngine;
  /** The ledger's read-only view, as the API reads it. */
  view: AlertView;
  clock: ManualClock;
  events: AlertEvent[];
  /** Devices the tick could not judge, as the engine reported them. */
  faults: string[];
  dir: string;
  /** Journal entries as the rules consumer gets them, with increasing LSNs. */
  feed(...entries: Entry[]): void;
  reading(device: string, metric: string, value: number, ts?: number, zone?: string): void;
  status(s: Omit<StatusChange, 'ts'> & { ts?: number }): void;
  tick(hub?: HubStatus): void;
  /** Events of one kind for one key. */
  of(kind: AlertEvent['kind'], key: string, notifiedOnly?: boolean): AlertEvent[];
  /** A new engine on the same state, as after a hub restart; the LSN continues from `lsn`. */
  restart(options?: { lsn?: number }): void;
  lsn: number;
  /** The journal position the engine's saved state reflects. */
  savedLsn(): number;
  /** How often the engine went back to its last save and asked the journal for what followed (`onReload`). */
  reloads: number;
  /** Hands the engine every entry fed after `fromLsn` again, as the journal does after a crash. */
  replay(fromLsn: number): void;
  close(): void;
}

export function engineFixture(config: Record<string, unknown> = {}, start = T0): EngineFixture {
  const dir = tempDir('floorwatch-rules-');
  const settings = ruleSettings(loadConfig({ env: testEnv(dir, { config }) }));
  const clock = new ManualClock(start);
  const events: AlertEvent[] = [];
  const sink: AlertSink = { record: () => undefined, announce: (e) => events.push(...e) };
  let ledger = new AlertLedger(join(dir, 'alerts.sqlite'));
  const journal: Entry[] = [];
  const faults: string[] = [];
  const onFault = (device: string) => void faults.push(device);
  const onReload = () => void (fixture.reloads += 1);
  const fixture: EngineFixture = {
    engine: new RuleEngine(settings, ledger, sink, clock.now, { onFault, onReload }),
    view: ledger.view(clock.now),
    clock,
    events,
    faults,
    dir,
    lsn: 0,
    reloads: 0,
    feed(...entries) {
      journal.push(...entries);
      fixture.lsn += entries.length;
      fixture.engine.apply(entries, fixture.lsn);
    },
    reading(device, metric, value, ts = clock.t, zone = 'floor-a') {
      const r: Reading = { device, metric, value, ts, zone };
      fixture.feed({ type: 'readings', readings: [r] });
    },
    status(s) {
      fixture.feed({ type: 'status', status: { ...s, ts: s.ts ?? clock.t } });
    },
    tick(hub) {
      fixture.engine.tick(hub);
    },
    of(kind, key, notifiedOnly = false) {
      return events.filter((e) => e.kind === kind && e.key === key && (!notifiedOnly || e.notified));
    },
    restart(options = {}) {
      ledger.close();
      ledger = new AlertLedger(join(dir, 'alerts.sqlite'));
      if (options.lsn !== undefined) {
        // The journal hands over what follows `lsn` again.
        fixture.lsn = options.lsn;
        journal.length = options.lsn;
      }
      fixture.engine = new RuleEngine(settings, ledger, sink, clock.now, { onFault, onReload });
      fixture.view = ledger.view(clock.now);
    },
    savedLsn() {
      return Number(ledger.meta('lsn') ?? '0');
    },
    replay(fromLsn) {
      fixture.engine.apply(journal.slice(fromLsn), journal.length);
    },
    close() {
      ledger.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

export const ZONES = {
  zones: [
    { id: 'floor-a', type: 'call_floor' },
    { id: 'quiet-1', type: 'quiet_room' },
    { id: 'server-room', type: 'server_room' },
  ],
};

/** The lifecycle's settings for a floor and a server room, as a pure step takes them. */
export function lifecycleSettings(over: Partial<RuleSettings> = {}): RuleSettings {
  return {
    book: new RuleBook({
      zones: new Map([
        ['floor-a', { type: 'call_floor' }],
        ['server-room', { type: 'server_room' }],
      ]),
      site: {},
      season: 'winter',
    }),
    devices: new Map(),
    gatewayOf: new Map(),
    startupGraceMs: 0,
    escalateAfterMs: 15 * MINUTE,
    storageDownAfterMs: MINUTE,
    notifyFailingAfterMs: 10 * MINUTE,
    storageRejectingClearsAfterMs: 5 * MINUTE,
    shifts: ['06:00', '14:00', '22:00'],
    acousticShockLevel: 105,
    ...over,
  };
}

export const emptyRuleState = (): RuleState => ({ devices: new Map(), gateways: new Map() });

/** A hub in good health, as its own alerts judge it. */
export const healthyHub = {
  storeName: 'influxdb',
  storeOk: true,
  backlog: 0,
  journalWritable: true,
  diskFreePercent: 50,
};

/** A stored temperature alert of device `t-<id>`, as a ledger holds one. */
export function storedAlert(id: number, state: Alert['state'] = 'firing', updatedAt = 2000 + id): Alert {
  return {
    id,
    key: `temperature_high:t-${id}`,
    rule: 'temperature_high',
    subject: `t-${id}`,
    zone: 'floor-1',
    state,
    severity: 'warning',
    summary: `t-${id} too warm`,
    startsAt: 1000,
    updatedAt,
  };
}
