// The one interface both storage backends (InfluxDB, embedded SQLite) implement.
// tests/store-contract.ts holds the suite that every backend must pass.
import type { Reading } from '../domain/reading.ts';
import type { MinuteAggregate, Touched } from './minutes.ts';

export type Aggregate = 'mean' | 'min' | 'max' | 'last' | 'laeq';
export const AGGREGATES: readonly Aggregate[] = ['mean', 'min', 'max', 'last', 'laeq'];

export interface ReadingQuery {
  /** Exactly one of device or zone. */
  device?: string;
  zone?: string;
  metric: string;
  /** Inclusive start, ms since epoch. */
  from: number;
  /** Exclusive end, ms since epoch. */
  to: number;
  /** Window length in ms; with `agg`, one point per window (windows aligned to the epoch). */
  every?: number;
  /** Without `every`, one point over the whole range. Without `agg`, raw points. */
  agg?: Aggregate;
  /** Most points returned (raw queries); newest are kept when cut. */
  limit?: number;
}

/** One device or zone's metric over [from, to): exactly one of device or zone. */
/** Minutes of a device or zone over a range, in time order; with `limit`, the newest that many. */
export type MinuteQuery = Pick<ReadingQuery, 'device' | 'zone' | 'metric' | 'from' | 'to' | 'limit'>;

export interface SeriesPoint {
  /** Raw: the reading's time. Windowed: the window's start. Whole range: the range's start. */
  ts: number;
  value: number;
  /** The device the point came from (raw points only). */
  device?: string;
  /** The value as the sensor reported it, when a calibration offset made `value` (raw points only). */
  uncalibrated?: number;
}

/**
 * One alert transition, kept as history for as long as the long-term readings, beyond the raw
 * ones: InfluxDB measurement `alerts` in policy `alert_history` (Grafana annotations), SQLite
 * table `alerts`.
 */
export interface AlertRecord {
  alertId: number;
  /** rule.subject, the alert's fingerprint. */
  key: string;
  rule: string;
  subject: string;
  /** 'unassigned' for devices without a zone, 'hub' for the hub's own alerts. */
  zone: string;
  /** firing, severity, resolved, acknowledged, escalated */
  event: string;
  severity: 'warning' | 'critical';
  at: number;
  summary: string;
  value?: number;
  /** An equipment fault's own code, as the device reported it. */
  code?: string;
}

export interface AlertQuery {
  /** Inclusive start and exclusive end, ms since epoch. */
  from: number;
  to: number;
  zone?: string;
  /** Most records returned, newest kept. */
  limit?: number;
}

/** What one prune removed. */
export interface Pruned {
  readings: number;
  minutes: number;
  alertEvents: number;
}

export interface StoreHealth {
  ok: boolean;
  detail: string;
}

/**
 * The store refused what it was given for good: a field type conflict, a series limit, a value it
 * cannot hold. Writing the same again cannot succeed, so the caller finds the refused readings
 * and sets them aside rather than retrying; the others may or may not have been written.
 */
export class StoreRefusal extends Error {
  override readonly name = 'StoreRefusal';

  constructor(
    message: string,
    /** How many of the readings written the store says it dropped (InfluxDB's "dropped=N"), when it says. */
    readonly dropped?: number,
  ) {
    super(message);
  }
}

/** The store cannot take writes now (down, unreachable, disk full, busy, refusing the hub's credentials): retry later. */
export class StoreUnavailable extends Error {
  override readonly name: string = 'StoreUnavailable';
}

/** The store is up but already has as many reads waiting as it takes: try again shortly. Nothing is behind. */
export class StoreBusy extends StoreUnavailable {
  override readonly name = 'StoreBusy';
}

export interface Store {
  /** Human name of the backend, for logs and health. */
  readonly name: string;
  /** Create what the backend needs (database, retention policies, tables). Idempotent. */
  init(): Promise<void>;
  /**
   * Write readings. Idempotent: the same (device, metric, ts) written twice is stored once, the
   * later value winning. Rejects with StoreUnavailable when the backend cannot take writes now (the
   * caller retries), with StoreRefusal when it refuses some of them for good (the caller looks for
   * those); any other error is a fault. Their minutes change only with rollUp.
   */
  write(readings: readonly Reading[]): Promise<void>;
  /**
   * Rewrites the 1-minute aggregate of each (device, metric, minute) given from the raw readings
   * (minutes.ts), so it counts each reading once however often it is rolled up. Minutes the raw
   * retention has passed are left as they are: their raw readings may be gone.
   */
  rollUp(touched: readonly Touched[]): Promise<void>;
  /**
   * Raw points, or aggregates; an aggregate over a range that starts before the raw retention is
   * computed from the 1-minute aggregates, so it covers what the raw readings no longer hold.
   */
  query(q: ReadingQuery): Promise<SeriesPoint[]>;
  /** The 1-minute aggregates of one device or zone's metric, in time order; with `limit`, the newest that many. */
  queryMinutes(q: MinuteQuery): Promise<MinuteAggregate[]>;
  /** Number of stored readings matching device/zone, metric and range (metric optional). */
  count(q: { device?: string; zone?: string; metric?: string; from: number; to: number }): Promise<number>;
  health(): Promise<StoreHealth>;
  /** Writes alert history. Idempotent: the same alert, event and time written twice is kept once. */
  writeAlertEvents(records: readonly AlertRecord[]): Promise<void>;
  /** Alert history in time order. */
  queryAlertEvents(q: AlertQuery): Promise<AlertRecord[]>;
  /**
   * Deletes readings past the raw retention, and minutes and alert history past the long-term
   * retention; returns how many of each. Only for backends that do not expire data themselves (InfluxDB
   * does, through its retention policies).
   */
  prune?(now: number): Promise<Pruned>;
  close(): Promise<void>;
}

/** What readers of the store (the API, reports) may use. */
export type StoreReader = Pick<Store, 'name' | 'query' | 'queryMinutes' | 'count' | 'queryAlertEvents' | 'health'>;
