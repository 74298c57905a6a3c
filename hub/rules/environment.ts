// The environment requirements on the stream of readings, per device and metric: each reading
// joins its metric's windows and is judged against the zone's requirements for that metric at its
// own event time; as time passes, pending `for` and keep_firing_for run out and a metric that stops
// coming goes stale. Pure: part of the rules' lifecycle.
//
// Late readings: each (device, metric) has an evaluation point, the event time of the newest
// reading evaluated. A reading at or before it still joins the windows (so later averages are
// right) but is not evaluated: it never re-opens a resolved alert nor resolves a live one.
import { unitText, type Reading } from '../domain/reading.ts';
import type { Finding } from './alerts.ts';
import { tenths, zoneLabel } from './wording.ts';
import { addLevel, projectedLex8h } from './exposure.ts';
import type { DeviceState, Evaluation } from './lifecycle.ts';
import { DEFAULT_INTERVAL_MS, heard, heldByGateway } from './liveness.ts';
import { LIVENESS } from './requirements.ts';
import { evaluateThreshold, newThresholdState, type ThresholdOutcome } from './threshold.ts';
import { dosePercent, Window, type Bucket } from './window.ts';
import type { Limit, Requirement } from '../domain/requirement.ts';

export interface Track {
  /** The evaluation point: event time of the newest reading evaluated. */
  last?: number;
  value: number;
  intervalMs?: number;
  buckets: Bucket[];
  stale?: true;
}

const HOUR_MS = 3_600_000;
/** A metric is never stale sooner than this, however often it reports. */
const MIN_STALE_MS = 60_000;

/** Spans by requirement list: the rulebook hands out the same lists until it is rebuilt. */
const SPANS = new WeakMap<readonly Requirement[], number>();

/** The longest window a set of requirements reads: what a track's buckets must cover. */
function spanOf(reqs: readonly Requirement[]): number {
  let span = SPANS.get(reqs);
  if (span === undefined) {
    span = Math.max(
      0,
      ...reqs.flatMap((q) =>
        q.limits.map((l) => (l.over.kind === 'last' ? 0 : l.over.kind === 'lex8h' ? HOUR_MS : l.over.windowMs)),
      ),
    );
    SPANS.set(reqs, span);
  }
  return span;
}

export function onReading(ev: Evaluation, r: Reading): void {
  const d = ev.device(r.device, r.zone);
  heard(ev, r.device, d, r.ts);
  const reqs = ev.site.settings.book.forMetric(d.zone, r.metric, r.ts);
  let track = d.tracks.get(r.metric);
  if (!track) {
    track = { value: r.value, buckets: [] };
    d.tracks.set(r.metric, track);
  }
  const span = spanOf(reqs);
  const window = new Window(span, track.buckets);
  if (span > 0) window.add(r.ts, r.value);
  const late = track.last !== undefined && r.ts <= track.last;
  if (r.metric === 'noise_peak' && d.kind === 'headset') acousticShock(ev, r, d, late);
  if (late) return;

  if (track.last !== undefined) {
    const gap = r.ts - track.last;
    track.intervalMs = track.intervalMs === undefined ? gap : Math.round(0.7 * track.intervalMs + 0.3 * gap);
  }
  track.last = r.ts;
  track.value = r.value;
  if (track.stale) {
    delete track.stale;
    ev.find(`stale.${r.metric}`, r.device, d.zone, { state: 'ok', at: r.ts });
  }

  const { book } = ev.site.settings;
  for (const req of reqs) {
    if (!book.judges(d.zone, req, r.ts)) {
      standDown(ev, r.device, d, req, r.ts);
      continue;
    }
    let projected: number | undefined;
    if (req.limits.some((l) => l.over.kind === 'lex8h')) {
      d.exposure = addLevel(d.exposure, r.ts, r.value, ev.site.shifts);
      const hour = window.laeq(r.ts, HOUR_MS);
      if (hour !== undefined) projected = projectedLex8h(d.exposure, r.ts, ev.site.shifts, hour);
    }
    const values = req.limits.map((l) => aggregate(l, window, r, projected));
    evaluate(ev, r.device, d, req, values, r.ts);
  }
}

/** A device's metrics as time passes: timers running out while data is fresh, staleness when it is not. */
export function environmentTick(ev: Evaluation, id: string, d: DeviceState): void {
  const { now } = ev;
  // A connection from before this start is gone: only a birth since then says the device is connected.
  const online = d.life.presence?.status === 'online' && d.life.presence.at >= ev.site.startedAt;
  for (const [metric, track] of d.tracks) {
    if (track.last === undefined) continue;
    const staleAfter = Math.max(
      MIN_STALE_MS,
      LIVENESS.staleIntervals.value * (track.intervalMs ?? DEFAULT_INTERVAL_MS),
    );
    const fresh = now - track.last <= staleAfter;
    if (fresh) {
      // Pending `for` and keep_firing_for run out with time, but only while data keeps coming:
      // during a replay of old readings, their own event time decides.
      const { book } = ev.site.settings;
      for (const req of book.forMetric(d.zone, metric, now)) {
        if (!book.judges(d.zone, req, now)) {
          standDown(ev, id, d, req, now);
          continue;
        }
        const state = d.thresholds.get(req.key);
        if (state && (state.clearedAt !== undefined || state.limits.some((l) => l.since !== undefined))) {
          ev.markChanged(id);
          evaluate(ev, id, d, req, [], now);
        }
      }
      continue;
    }
    const heardOtherwise = d.life.lastSeen !== undefined && now - d.life.lastSeen <= staleAfter;
    if (
      track.stale ||
      track.intervalMs === undefined ||
      d.life.offline ||
      heldByGateway(ev, id) ||
      !(heardOtherwise || online) ||
      now < ev.site.graceUntil
    )
      continue;
    track.stale = true;
    ev.markChanged(id);
    ev.find(`stale.${metric}`, id, d.zone, {
      state: 'firing',
      severity: 'warning',
      at: now,
      summary: `${d.kind ?? 'device'} ${id} in ${zoneLabel(d.zone)} is connected but has sent no ${metric} for ${Math.round((now - track.last) / 1000)} s (it reported every ${Math.round(track.intervalMs / 1000)} s)`,
    });
  }
}

/**
 * A peak at a headset at or above the acoustic shock level: an incident, alerted at once with the
 * position, time and level, and over with the next peak below it. Its own rule, judged whatever
 * the hours: a shock is a shock at any time, and one a headset buffered and sends late is
 * recorded too; a late peak below the level ends nothing.
 */
function acousticShock(ev: Evaluation, r: Reading, d: DeviceState, late: boolean): void {
  const level = ev.site.settings.acousticShockLevel;
  if (r.value < level) {
    if (late) return;
    ev.find('acoustic_shock', r.device, d.zone, { state: 'ok', at: r.ts });
    return;
  }
  ev.find('acoustic_shock', r.device, d.zone, {
    state: 'firing',
    severity: 'critical',
    at: r.ts,
    summary: `acoustic shock at headset ${r.device} in ${zoneLabel(d.zone)}: a peak of ${tenths(r.value)} dB(C), at or above ${level} dB(C); record the incident and check on the agent`,
    value: r.value,
    threshold: level,
    unit: 'dB(C)',
    source: 'HSE call-centre guidance: record acoustic incidents; rules.acoustic_shock_level',
  });
}

/**
 * A requirement not judged at this time (outside the hours it applies in): its pending or firing
 * alert ends, saying why, and it starts afresh when it is judged again.
 */
function standDown(ev: Evaluation, id: string, d: DeviceState, req: Requirement, at: number): void {
  if (!d.thresholds.has(req.key)) return;
  d.thresholds.delete(req.key);
  ev.markChanged(id);
  const occupancy = ev.site.settings.book.occupancy(d.zone, at);
  ev.find(req.key, id, d.zone, {
    state: 'ok',
    at,
    summary: `${req.title} at ${id} in ${zoneLabel(d.zone)}: not judged now, the zone is ${occupancy} (${req.key} applies ${req.applies === 'occupied' ? 'in opening hours, after the warm-up' : 'outside opening hours'})`,
  });
}

function evaluate(
  ev: Evaluation,
  id: string,
  d: DeviceState,
  req: Requirement,
  values: readonly (number | undefined)[],
  at: number,
): void {
  let state = d.thresholds.get(req.key);
  if (!state) {
    state = newThresholdState(req);
    d.thresholds.set(req.key, state);
  }
  const outcome = evaluateThreshold(req, state, values, at);
  ev.find(req.key, id, d.zone, {
    state: outcome.state,
    at,
    ...(outcome.severity && { severity: outcome.severity }),
    ...describe(req, outcome, id, d.zone),
  });
}

function aggregate(l: Limit, window: Window, r: Reading, projected: number | undefined): number | undefined {
  switch (l.over.kind) {
    case 'last':
      return r.value;
    case 'mean':
      return window.mean(r.ts, l.over.windowMs);
    case 'laeq':
      return window.laeq(r.ts, l.over.windowMs);
    case 'max':
      return window.max(r.ts, l.over.windowMs);
    case 'rise':
      return window.rise(r.ts, l.over.windowMs, r.value);
    case 'lex8h':
      return projected;
  }
}

function describe(req: Requirement, o: ThresholdOutcome, device: string, zone: string): Partial<Finding> {
  if (!o.limit || o.value === undefined) return {};
  const l = o.limit;
  const judgement = l.threshold.judgement ? ', engineering judgement' : '';
  const what =
    l.over.kind === 'rise'
      ? `rose ${tenths(o.value)} ${unitText(req.unit)} in ${l.over.windowMs / 60_000} min`
      : l.over.kind === 'lex8h'
        ? `${tenths(o.value)} ${unitText(req.unit)} by the end of the shift (dose ${Math.round(dosePercent(o.value))} %; a room sensor stands in for the ear)`
        : `${tenths(o.value)} ${unitText(req.unit)}`;
  return {
    summary: `${req.title} at ${device} in ${zoneLabel(zone)}: ${what}, ${l.when} the ${l.severity} limit ${l.threshold.value} ${unitText(req.unit)} (${l.threshold.source}${judgement})`,
    value: Math.round(o.value * 100) / 100,
    threshold: l.threshold.value,
    unit: req.unit,
    source: l.threshold.source,
  };
}
