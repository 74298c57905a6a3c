// The live floor page: zones, open alerts and devices from the hub's API, kept current by its
// server-sent events. Every piece of data reaches the page as text (textContent, attributes set
// one by one), never as HTML: zone names, alert texts and acknowledgements can hold anything.
// A floor can have thousands of devices: zones show how many of theirs are online, and the devices
// are listed by zone, each group collapsed until opened and holding at most DEVICE_ROWS of them,
// offline ones first, so the page never loads them all.

import { colourZones, COMPLIANCE, drawPlan } from './plan.js';

const TOKEN_KEY = 'floorwatch.token';
const WHO_KEY = 'floorwatch.who';
/** The small charts: metric, the aggregate that is honest for it, and its label. */
const CHARTS = [
  { metric: 'temperature', agg: 'mean', label: 'Temperature' },
  { metric: 'humidity', agg: 'mean', label: 'Humidity' },
  { metric: 'co2', agg: 'mean', label: 'CO₂' },
  // Decibels are averaged as energy, as the noise rules do.
  { metric: 'noise', agg: 'laeq', label: 'Noise' },
];
// Maps, and own-property lookups below: metric names come from devices, and one called
// "constructor" must show as itself, not as something found on Object.prototype.
const UNITS = new Map([
  ['Cel', '°C'],
  ['%RH', '%RH'],
  ['ppm', 'ppm'],
  ['dB(A)', 'dB(A)'],
  ['dB(C)', 'dB(C)'],
  ['m/s', 'm/s'],
  ['m3/h/person', 'm³/h per person'],
]);
const LABELS = new Map([
  ['temperature', 'Temperature'],
  ['humidity', 'Humidity'],
  ['co2', 'CO₂'],
  ['noise', 'Noise'],
  ['noise_peak', 'Peak noise'],
  ['fresh_air', 'Fresh air'],
  ['air_speed', 'Air speed'],
  ['dew_point', 'Dew point'],
]);
const ZONE_TYPES = new Map([
  ['call_floor', 'call floor'],
  ['quiet_room', 'quiet room'],
  ['server_room', 'server room'],
]);

/** A zone's latest value of a metric, when the zone has one of its own. */
const latestOf = (zone, metric) => (Object.hasOwn(zone.latest, metric) ? zone.latest[metric] : undefined);
const DEVICE_ROWS = 200;
/** Devices without a zone whose latest readings are asked for at load: their values show nowhere else. */
const UNZONED_LOOKUPS = 20;

const state = {
  zones: [],
  season: '',
  alerts: [],
  /** Every device, and those in no zone: how many, and how many online (GET /api/v1/zones). */
  deviceTotals: { total: 0, online: 0 },
  unzoned: { total: 0, online: 0 },
  /** The device groups the visitor opened, and the loaded devices of each (zone id, '' for no zone). */
  openGroups: new Set(),
  groups: new Map(),
  /** The device counts the groups were last drawn with. */
  groupCounts: '',
  /** What the Find box found, while it holds text. */
  found: null,
  series: new Map(),
  /** Per zone: the requirements judged now, with their limits, for the charts' bands. */
  rules: new Map(),
  /** The floor plan from GET /api/v1/layout, or null; its image as an object URL once fetched. */
  layout: null,
  planImage: undefined,
  /** The layout the plan was last drawn from, as the hub sent it. */
  planDrawn: '',
  /** Per device in the table: metric → its latest reading, from the API at load and the feed after. */
  latest: new Map(),
  events: undefined,
};

const $ = (id) => document.getElementById(id);

/** An element with text children only; attributes are set one by one, never parsed. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}

/** Replaces a list's content and gives focus back to the same control, so live updates do not throw a keyboard user off. */
function render(container, nodes) {
  const focusKey =
    document.activeElement instanceof HTMLElement && container.contains(document.activeElement)
      ? document.activeElement.dataset.focusKey
      : undefined;
  container.replaceChildren(...nodes);
  if (focusKey) container.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

function unit(u) {
  return UNITS.get(u) ?? u;
}

function count(n) {
  return n.toLocaleString('en');
}

function number(v) {
  return Math.abs(v) >= 100 ? String(Math.round(v)) : (Math.round(v * 10) / 10).toFixed(1);
}

function ago(ts) {
  if (ts === null || ts === undefined) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ts).toLocaleString();
}

function clock(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

class SignInNeeded extends Error {}

async function request(path, init = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = {
    ...(init.body !== undefined && { 'content-type': 'application/json' }),
    ...(token && { authorization: `Bearer ${token}` }),
  };
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) throw new SignInNeeded((await response.json().catch(() => ({}))).message ?? 'sign in');
  return response;
}

async function api(path, init = {}) {
  const response = await request(path, init);
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

// ---- zones ----

/** The limits a chart draws: plain and windowed ones, not a rate of rise or a shift's dose. */
function chartLimits(zone, metric) {
  return (state.rules.get(zone) ?? [])
    .filter((r) => r.metric === metric)
    .flatMap((r) => r.limits)
    .filter((l) => ['last', 'mean', 'laeq', 'max'].includes(l.over.kind))
    .sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'warning' ? -1 : 1));
}

/** The last hour as a line over the requirement's bands: warning and critical shaded where they begin. */
function hourChart(points, metric, u, limits) {
  const ns = 'http://www.w3.org/2000/svg';
  const W = 240;
  const H = 60;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  const label = LABELS.get(metric) ?? metric;
  const bands = limits.map((l) => `${l.severity} ${l.when} ${number(l.threshold.value)}`).join(', ');
  if (points.length < 2) {
    svg.setAttribute('aria-label', `${label}: not enough readings in the last hour for a chart`);
    return svg;
  }
  const values = points.map((p) => p.value);
  const min = Math.min(...values);
  const max = Math.max(...values);
  // The limits stay in view so the line is read against them, with a margin above and below.
  const bounds = [...values, ...limits.map((l) => l.threshold.value)];
  const low = Math.min(...bounds);
  const high = Math.max(...bounds);
  const pad = (high - low || 1) * 0.1;
  const y = (v) => H - ((v - (low - pad)) / (high - low + 2 * pad)) * H;
  for (const l of limits) {
    const edge = y(l.threshold.value);
    const band = document.createElementNS(ns, 'rect');
    band.setAttribute('class', `band ${l.severity}`);
    band.setAttribute('x', '0');
    band.setAttribute('width', String(W));
    band.setAttribute('y', String(l.when === 'above' ? 0 : edge));
    band.setAttribute('height', String(l.when === 'above' ? edge : H - edge));
    svg.append(band);
  }
  const from = Date.now() - 3_600_000;
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute(
    'points',
    points.map((p) => `${(Math.max(0, p.ts - from) / 3_600_000) * W},${y(p.value)}`).join(' '),
  );
  svg.setAttribute(
    'aria-label',
    `${label} over the last hour: ${number(min)} to ${number(max)} ${unit(u)}${bands ? `; ${bands} ${unit(u)}` : ''}`,
  );
  svg.append(line);
  return svg;
}

function zoneTile(z) {
  // Focusable from the plan: selecting a zone there brings its tile to the keyboard.
  const tile = el('li', { class: `zone compliance-${z.compliance}`, 'data-zone': z.zone, tabindex: '-1' });
  const heading = el('h3', {}, z.name ?? z.zone);
  const open = z.occupancy === 'unoccupied' ? ' · closed (set-back rules)' : ' · open';
  const meta = el(
    'p',
    { class: 'zone-meta' },
    `${z.name ? `${z.zone} · ` : ''}${ZONE_TYPES.get(z.type) ?? z.type}${open}`,
  );
  const badge = el('p', { class: 'badge' }, COMPLIANCE.get(z.compliance) ?? z.compliance);
  tile.append(heading, meta, badge);
  if (z.alerts.firing > 0)
    tile.append(
      el(
        'p',
        { class: 'zone-alerts' },
        `${z.alerts.firing} open alert${z.alerts.firing === 1 ? '' : 's'}${z.alerts.critical > 0 ? `, ${z.alerts.critical} critical` : ''}`,
      ),
    );
  if (z.devices.total > 0)
    tile.append(
      el(
        'p',
        { class: 'zone-devices' },
        `${count(z.devices.online)} of ${count(z.devices.total)} device${z.devices.total === 1 ? '' : 's'} online`,
      ),
    );

  const list = el('dl', { class: 'values' });
  // The charted metrics the zone is judged on always have a row; others once they report.
  const charted = (m) => CHARTS.some((c) => c.metric === m) && z.requirements.some((r) => r.metric === m);
  const metrics = [
    ...new Set([
      ...CHARTS.map((c) => c.metric),
      ...z.requirements.map((r) => r.metric),
      ...Object.keys(z.latest).sort(),
    ]),
  ].filter((m) => latestOf(z, m) || charted(m));
  for (const metric of metrics) {
    const latest = latestOf(z, metric);
    const reqs = z.requirements.filter((r) => r.metric === metric);
    const breached = reqs.find((r) => r.breached);
    const u = latest?.unit ?? reqs[0]?.unit ?? '';
    const value = el(
      'dd',
      { 'data-metric': metric },
      el('span', { class: 'value' }, latest ? number(latest.value) : '–'),
      ` ${unit(u)}`,
    );
    if (breached)
      value.append(
        el(
          'span',
          { class: `breach ${breached.breached.severity}` },
          `${breached.breached.severity}: ${breached.over} ${number(breached.value)}, ${breached.breached.when} ${number(breached.breached.threshold)}`,
        ),
      );
    const chart = CHARTS.find((c) => c.metric === metric);
    if (chart)
      value.append(hourChart(state.series.get(`${z.zone}|${metric}`) ?? [], metric, u, chartLimits(z.zone, metric)));
    list.append(el('div', { class: 'value-row' }, el('dt', {}, LABELS.get(metric) ?? metric), value));
  }
  tile.append(list);
  return tile;
}

/** A first run has no zones: say how to declare them rather than show nothing. */
function noZones() {
  return el(
    'li',
    { class: 'empty', id: 'no-zones' },
    el('p', {}, 'No zones are declared yet, so there is nothing to judge against requirements.'),
    el(
      'p',
      {},
      'Declare them in floorwatch.yaml under zones: (each with an id and a type: call_floor, quiet_room or server_room), put devices in them under devices:, then reload the hub (kill -HUP, or POST /api/v1/config/reload). Devices reporting meanwhile are listed under Devices with their latest readings.',
    ),
  );
}

function renderZones() {
  $('season').textContent = state.season ? `· ${state.season} requirements` : '';
  render($('zones'), state.zones.length === 0 ? [noZones()] : state.zones.map(zoneTile));
  const plan = $('plan').firstElementChild;
  if (plan) colourZones(plan, zoneState);
}

// ---- the floor plan ----

/** A zone as the plan colours it: the state its tile shows. */
function zoneState(id) {
  const z = state.zones.find((zone) => zone.zone === id);
  return { name: z?.name ?? id, compliance: z?.compliance ?? 'no_data' };
}

function openZone(id) {
  const tile = [...document.querySelectorAll('#zones .zone')].find((t) => t.dataset.zone === id);
  if (!tile) return;
  tile.scrollIntoView({ block: 'nearest' });
  tile.focus();
}

/** A position's devices, found as the Find box finds them. */
function openPosition(position) {
  $('device-filter').value = position;
  loadDevices().catch(failed);
  $('devices-title').scrollIntoView({ block: 'nearest' });
}

/** The plan image is fetched once a page: it can be megabytes, and it changes only with the file. */
async function loadPlanImage(background) {
  if (!background?.url || state.planImage) return;
  const response = await request(background.url);
  if (response.ok) state.planImage = URL.createObjectURL(await response.blob());
}

/**
 * On the page's timeline, as floor-loaded is: each load of the plan, and whether it was drawn
 * again. Only the last is kept, as a wall screen stays open for weeks.
 */
function planLoaded(drawn) {
  performance.clearMarks('floor-plan-loaded');
  performance.mark('floor-plan-loaded', { detail: { drawn } });
}

/**
 * The plan and its positions' equipment states; without layout: in the file, only the tiles. A
 * plan the same as the one drawn is left as it is: most heartbeats change no seat, and a redraw
 * would drop the keyboard focus of someone finding their way round the plan.
 */
async function loadLayout() {
  const { layout } = await api('/api/v1/layout');
  state.layout = layout;
  $('plan-figure').hidden = !layout;
  const text = JSON.stringify(layout);
  // A plan drawn without its image (the fetch failed) is drawn again, the image asked for again.
  const whole = !layout?.background?.url || state.planImage !== undefined;
  if (text === state.planDrawn && whole && $('plan').firstElementChild) return planLoaded(false);
  if (!layout) return $('plan').replaceChildren();
  await loadPlanImage(layout.background);
  $('plan').replaceChildren(drawPlan(layout, { zoneState, image: state.planImage, openZone, openPosition }));
  const counts = new Map();
  for (const p of layout.positions) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  $('plan-caption').textContent = [
    'Zones coloured by their state against requirements; dots are positions, coloured by their equipment',
    `(${[...counts].map(([s, n]) => `${count(n)} ${s}`).join(', ') || 'no positions'}).`,
    'Select a zone or a position to see it below.',
    layout.background?.problem ? `The plan image is not shown: ${layout.background.problem}.` : '',
  ].join(' ');
  state.planDrawn = text;
  planLoaded(true);
}

/** Many readings a second on a big floor: the tiles are drawn once per frame at most. */
let zonesFrame;
function renderZonesSoon() {
  zonesFrame ??= requestAnimationFrame(() => {
    zonesFrame = undefined;
    renderZones();
  });
}

/** The limits the charts draw: they change with the hours and a reload, so once a minute is enough. */
async function loadRules() {
  const rules = await api('/api/v1/rules');
  state.rules = new Map(rules.zones.map((z) => [z.zone, z.requirements.filter((r) => z.judgedNow.includes(r.key))]));
}

async function loadZones() {
  const body = await api('/api/v1/zones');
  state.zones = body.zones;
  state.season = body.season;
  $('site').textContent = body.site;
  document.title = `${body.site} · the floor`;
  state.deviceTotals = body.devices;
  state.unzoned = body.unzoned;
  renderZones();
  // The device groups' counts are the zones': redrawn when those change, not at every reading's zone reload.
  const counts = JSON.stringify([body.devices, body.unzoned, deviceGroups()]);
  if (counts !== state.groupCounts) {
    state.groupCounts = counts;
    renderDevices();
  }
}

async function loadSeries() {
  const asks = state.zones.flatMap((z) =>
    CHARTS.map(async (c) => {
      const q = new URLSearchParams({ zone: z.zone, metric: c.metric, from: '-1h', every: '1m', agg: c.agg });
      const body = await api(`/api/v1/readings?${q}`);
      state.series.set(`${z.zone}|${c.metric}`, body.points);
    }),
  );
  await Promise.all(asks);
  renderZones();
}

// ---- alerts ----

function who() {
  const name = $('who').value.trim();
  if (!name) {
    $('alert-error').textContent =
      'Type your name under "Acknowledge as" first: the hub records who acknowledged or silenced an alert.';
    $('who').focus();
    return undefined;
  }
  sessionStorage.setItem(WHO_KEY, name);
  return name;
}

async function act(work) {
  $('alert-error').textContent = '';
  try {
    await work();
    await loadAlerts();
  } catch (err) {
    if (err instanceof SignInNeeded) return signIn(err.message);
    $('alert-error').textContent = `That did not work: ${err.message}`;
  }
}

function acknowledge(alert) {
  const by = who();
  if (by) void act(() => api(`/api/v1/alerts/${alert.id}/ack`, { method: 'POST', body: JSON.stringify({ by }) }));
}

function silence(alert) {
  const by = who();
  if (by)
    void act(() =>
      api('/api/v1/silences', {
        method: 'POST',
        body: JSON.stringify({
          matchers: { rule: alert.rule, device: alert.subject },
          duration: '1h',
          createdBy: by,
          comment: 'from the floor page',
        }),
      }),
    );
}

function alertItem(a) {
  const item = el('li', { class: `alert ${a.severity}`, 'data-alert': a.id });
  item.append(
    el(
      'p',
      { class: 'alert-head' },
      el('span', { class: `severity ${a.severity}` }, a.severity),
      ' ',
      el('span', { class: 'summary' }, a.summary),
    ),
    el(
      'p',
      { class: 'alert-meta' },
      `${a.zone} · ${a.subject} · firing since ${clock(a.firingAt ?? a.startsAt)} (${ago(a.firingAt ?? a.startsAt)})`,
    ),
  );
  if (a.ack)
    item.append(
      el(
        'p',
        { class: 'acked' },
        `Acknowledged by ${a.ack.by} ${ago(a.ack.at)}${a.ack.comment ? ` — ${a.ack.comment}` : ''}`,
      ),
    );
  if (a.silencedBy?.length > 0)
    item.append(el('p', { class: 'silenced' }, `Notifications silenced (silence ${a.silencedBy.join(', ')})`));
  const actions = el('p', { class: 'actions' });
  if (!a.ack) {
    const ack = el(
      'button',
      { type: 'button', class: 'ack', 'data-focus-key': `ack-${a.id}`, 'aria-label': `Acknowledge: ${a.summary}` },
      'Acknowledge',
    );
    ack.addEventListener('click', () => acknowledge(a));
    actions.append(ack);
  }
  if (!(a.silencedBy?.length > 0)) {
    const mute = el(
      'button',
      {
        type: 'button',
        class: 'silence',
        'data-focus-key': `silence-${a.id}`,
        'aria-label': `Silence for 1 hour: ${a.summary}`,
      },
      'Silence 1 h',
    );
    mute.addEventListener('click', () => silence(a));
    actions.append(mute);
  }
  if (actions.childElementCount > 0) item.append(actions);
  return item;
}

function renderAlerts() {
  $('alert-count').textContent = `(${state.alerts.length})`;
  render(
    $('alert-list'),
    state.alerts.length > 0 ? state.alerts.map(alertItem) : [el('li', { class: 'none' }, 'No open alerts.')],
  );
}

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const hhmm = (m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** A silence in words: what it covers, and when (a recurring window by its days and hours). */
function windowText(s) {
  const what = Object.entries(s.matchers)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const r = s.recurrence;
  const nth = (n) => (n === -1 ? 'last' : ['1st', '2nd', '3rd', '4th'][n - 1]);
  const when = r
    ? `${r.every === 'week' ? `every ${r.days.map((d) => DAY_NAMES[d]).join(', ')}` : `the ${nth(r.nth)} ${DAY_NAMES[r.weekday]} of each month`} from ${hhmm(r.startMinute)} for ${Math.round(r.durationMs / 60000)} min`
    : `until ${new Date(s.endsAt).toLocaleString()}`;
  return `${s.active ? 'In force' : 'Waiting'}: ${what} — ${when} (${s.createdBy}${s.comment ? `: ${s.comment}` : ''})`;
}

async function loadAlerts() {
  const [alerts, silences] = await Promise.all([api('/api/v1/alerts?state=firing'), api('/api/v1/silences')]);
  state.alerts = alerts.alerts;
  renderAlerts();
  render(
    $('windows'),
    silences.silences.length > 0
      ? silences.silences.map((s) => el('li', { class: s.active ? 'active' : '' }, windowText(s)))
      : [el('li', { class: 'none' }, 'None.')],
  );
}

// ---- devices ----

/** One group per zone with devices, then those in no zone; each says how many of its devices are online. */
function deviceGroups() {
  const groups = state.zones
    .filter((z) => z.devices.total > 0)
    .map((z) => ({ key: z.zone, name: z.name ?? z.zone, ...z.devices }));
  if (state.unzoned.total > 0) groups.push({ key: '', name: 'Not in a zone', ...state.unzoned });
  return groups;
}

function deviceRow(d) {
  return el(
    'tr',
    { class: d.online ? 'online' : 'offline', 'data-device': d.id },
    el('th', { scope: 'row' }, d.id),
    el('td', {}, d.kind ?? '–'),
    el('td', {}, d.position ?? '–'),
    el(
      'td',
      {},
      el('span', { class: 'presence' }, d.online ? 'online' : 'offline'),
      d.status && d.status !== 'ok' ? ` · ${d.status}` : '',
      d.battery !== null ? ` · battery ${d.battery} %` : '',
      d.rssi !== null ? ` · signal ${d.rssi} dBm` : '',
      d.fw !== null ? ` · fw ${d.fw}` : '',
    ),
    el('td', {}, latestText(d.id)),
    el('td', {}, ago(d.lastHeartbeat)),
  );
}

function deviceTable(devices) {
  const head = el(
    'tr',
    {},
    ...['Device', 'Kind', 'Seat', 'State', 'Latest readings', 'Last heartbeat'].map((h) =>
      el('th', { scope: 'col' }, h),
    ),
  );
  return el(
    'div',
    { class: 'table-scroll', tabindex: '0' },
    el('table', { class: 'devices' }, el('thead', {}, head), el('tbody', {}, ...devices.map(deviceRow))),
  );
}

/** A zone's devices, collapsed until opened: 123 rows open at once made the page metres long. */
function groupBox(group, { open, summary, devices, more }) {
  const box = el('details', { class: 'device-group', 'data-group': group.key, open });
  box.append(el('summary', { 'data-focus-key': `group:${group.key}` }, el('strong', {}, group.name), ` · ${summary}`));
  if (devices) box.append(deviceTable(devices));
  else if (open) box.append(el('p', { class: 'muted' }, 'Loading…'));
  if (more) box.append(el('p', { class: 'muted' }, more));
  box.addEventListener('toggle', () => {
    if (box.open === state.openGroups.has(group.key)) return;
    if (box.open) {
      state.openGroups.add(group.key);
      loadGroup(group.key).catch(failed);
    } else state.openGroups.delete(group.key);
  });
  return box;
}

/** "Showing 200 of 3,000 devices, offline ones first", when a group holds more than a page. */
const showing = (shown, total, what) =>
  shown < total ? `Showing ${count(shown)} of ${count(total)} ${what}, offline ones first.` : '';

function renderDevices() {
  const match = $('device-filter').value.trim();
  const groups = deviceGroups();
  if (match) {
    const found = state.found ?? { devices: [], total: 0, online: 0 };
    $('device-count').textContent = `(${count(found.total)} found, ${count(found.online)} online)`;
    $('device-more').textContent =
      found.total === 0
        ? `No device's id, kind, zone or seat holds "${match}".`
        : showing(found.devices.length, found.total, 'devices found');
    // What was found, under the zones it is in, every group open.
    const byZone = new Map();
    for (const d of found.devices) byZone.set(d.zone ?? '', [...(byZone.get(d.zone ?? '') ?? []), d]);
    const named = new Map(groups.map((g) => [g.key, g]));
    render(
      $('devices'),
      [...byZone].map(([key, devices]) =>
        groupBox(named.get(key) ?? { key, name: key || 'Not in a zone' }, {
          open: true,
          summary: `${count(devices.length)} found`,
          devices,
        }),
      ),
    );
    return;
  }
  const total = state.deviceTotals;
  $('device-count').textContent = `(${count(total.online)} of ${count(total.total)} online)`;
  $('device-more').textContent = groups.length === 0 ? 'No device has reported or been declared yet.' : '';
  render(
    $('devices'),
    groups.map((g) => {
      const loaded = state.groups.get(g.key);
      const offline = g.total - g.online;
      return groupBox(g, {
        // A floor with one group has nothing to choose between: it is open.
        open: groups.length === 1 || state.openGroups.has(g.key),
        summary: `${count(g.total)} device${g.total === 1 ? '' : 's'}, ${offline === 0 ? 'all online' : `${count(offline)} offline`}`,
        devices: loaded?.devices,
        more: loaded && showing(loaded.devices.length, loaded.total, 'devices'),
      });
    }),
  );
}

/** A device's latest readings, "Temperature 23.4 °C · Humidity 41.0 %RH"; a dash before any. */
function latestText(device) {
  const readings = state.latest.get(device);
  if (!readings || readings.size === 0) return '–';
  return [...readings]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([metric, r]) => `${LABELS.get(metric) ?? metric} ${number(r.value)}${r.unit ? ` ${unit(r.unit)}` : ''}`)
    .join(' · ');
}

/** Keeps a reading as its device's latest, for devices the table shows. */
function noteLatest(r, u) {
  const readings = state.latest.get(r.device);
  if (!readings) return false;
  const known = readings.get(r.metric);
  if (known && known.ts > r.ts) return false;
  readings.set(r.metric, { value: r.value, ts: r.ts, unit: u ?? known?.unit ?? '' });
  return true;
}

/** The devices on show: what Find found, or the open groups'. */
function shownDevices() {
  if ($('device-filter').value.trim()) return state.found?.devices ?? [];
  return [...state.groups]
    .filter(([key]) => state.openGroups.has(key) || state.groups.size === 1)
    .flatMap(([, g]) => g.devices);
}

/** Only the devices shown keep their latest readings, so the page's memory stays bounded; those in no zone get their last known ones, which no tile shows. */
async function noteShown() {
  const shown = shownDevices();
  state.latest = new Map(shown.map((d) => [d.id, state.latest.get(d.id) ?? new Map()]));
  renderDevices();
  const unzoned = shown.filter((d) => d.zone === null && d.metrics.length > 0).slice(0, UNZONED_LOOKUPS);
  await Promise.all(
    unzoned.flatMap((d) =>
      d.metrics.slice(0, CHARTS.length + 4).map(async (metric) => {
        const q = new URLSearchParams({ device: d.id, metric, from: '-1d', limit: '1' });
        const body = await api(`/api/v1/readings?${q}`);
        const [point] = body.points;
        if (point) noteLatest({ device: d.id, metric, value: point.value, ts: point.ts }, body.unit);
      }),
    ),
  );
  renderDevices();
}

/** Up to DEVICE_ROWS devices matching the query, offline ones first, each part in the order people number seats (hs-a2 before hs-a10). */
async function devicePage(query) {
  const [offline, online] = await Promise.all(
    [false, true].map((on) =>
      api(`/api/v1/devices?${new URLSearchParams({ ...query, online: String(on), limit: String(DEVICE_ROWS) })}`),
    ),
  );
  const natural = (a, b) => a.id.localeCompare(b.id, 'en', { numeric: true });
  return {
    devices: [...offline.devices.sort(natural), ...online.devices.sort(natural)].slice(0, DEVICE_ROWS),
    total: offline.total + online.total,
    online: online.total,
  };
}

/** A group's first page: the zone's devices, or those in no zone ('' ). */
async function fetchGroup(key) {
  state.groups.set(key, await devicePage(key === '' ? { unzoned: 'true' } : { zone: key }));
}

async function loadGroup(key) {
  await fetchGroup(key);
  await noteShown();
}

/** What Find holds, among all devices; or the groups that are open. */
async function loadDevices() {
  const match = $('device-filter').value.trim();
  if (match) {
    state.found = await devicePage({ match });
    return noteShown();
  }
  state.found = null;
  const groups = deviceGroups();
  const open = groups.filter((g) => groups.length === 1 || state.openGroups.has(g.key)).map((g) => g.key);
  // Groups closed since are forgotten: their rows would be out of date when opened again.
  state.groups = new Map([...state.groups].filter(([key]) => open.includes(key)));
  await Promise.all(open.map(fetchGroup));
  await noteShown();
}

// ---- live ----

/** Collapses bursts of events into one reload per part. */
const pending = new Map();
function soon(name, load, ms) {
  if (pending.has(name)) return;
  pending.set(
    name,
    setTimeout(() => {
      pending.delete(name);
      load().catch(failed);
    }, ms),
  );
}

function live(text, ok) {
  $('live').textContent = text;
  $('live').className = `live ${ok ? 'on' : 'off'}`;
}

/** How long the page waits before it asks again for a feed it was refused: doubling, to a cap. */
const RECONNECT = { firstMs: 1000, maxMs: 60_000 };
let reconnectMs = RECONNECT.firstMs;
let reconnectTimer;
/** The feed dropped or was refused since it was last open: what happened meanwhile came over no feed. */
let missed = false;

function reconnectLater(why) {
  clearTimeout(reconnectTimer);
  missed = true;
  // Spread, so that the wall screens a busy hub refused together do not all come back together.
  const wait = reconnectMs * (0.5 + Math.random() / 2);
  reconnectMs = Math.min(reconnectMs * 2, RECONNECT.maxMs);
  live(`${why} Reconnecting in ${Math.ceil(wait / 1000)} s…`, false);
  reconnectTimer = setTimeout(connect, wait);
}

function connect() {
  clearTimeout(reconnectTimer);
  state.events?.close();
  const token = sessionStorage.getItem(TOKEN_KEY);
  const events = new EventSource(`/api/v1/events${token ? `?access_token=${encodeURIComponent(token)}` : ''}`);
  state.events = events;
  events.onopen = () => {
    if (missed) loadAll().catch(failed);
    missed = false;
    reconnectMs = RECONNECT.firstMs;
    live('Live', true);
  };
  events.onerror = () => {
    // A dropped connection the browser opens again by itself; a refused one (a token no longer
    // accepted, a hub at its limit of live feeds: 401, 429, 503) it closes for good, so the page
    // asks again. One small request first says whether to sign in.
    if (events.readyState !== EventSource.CLOSED) {
      missed = true;
      return live('Reconnecting…', false);
    }
    api('/api/v1/devices?limit=1').then(
      () => {
        if (state.events === events) reconnectLater('Live feed refused.');
      },
      (err) => {
        // Signed out, or connected anew, meanwhile: this feed is no longer the page's.
        if (state.events !== events) return;
        if (err instanceof SignInNeeded) signIn(err.message);
        else reconnectLater(`Cannot reach the hub: ${err.message}.`);
      },
    );
  };
  events.addEventListener('reading', (e) => {
    const r = JSON.parse(e.data);
    if (noteLatest(r, r.unit)) soon('device-readings', async () => renderDevices(), 500);
    const zone = state.zones.find((z) => z.zone === r.zone);
    if (zone) {
      const known = latestOf(zone, r.metric);
      if (!known || r.ts >= known.ts)
        zone.latest[r.metric] = {
          value: r.value,
          ts: r.ts,
          device: r.device,
          unit: r.unit ?? known?.unit ?? zone.requirements.find((q) => q.metric === r.metric)?.unit ?? '',
        };
      renderZonesSoon();
      // Compliance needs the stored readings, which the store writes a moment later.
      soon('zones', loadZones, 2000);
    }
  });
  for (const name of ['heartbeat', 'status']) {
    events.addEventListener(name, () => {
      soon('devices', loadDevices, 1000);
      // A big plan is a big answer: its seats' states at most every 5 s.
      if (state.layout) soon('layout', loadLayout, 5000);
      // The zones count their devices online.
      soon('zones', loadZones, 2000);
    });
  }
  events.addEventListener('alert', () => {
    soon('alerts', loadAlerts, 200);
    soon('zones', loadZones, 1000);
  });
}

// ---- sign-in and start ----

function signIn(message) {
  clearTimeout(reconnectTimer);
  reconnectMs = RECONNECT.firstMs;
  // Signing in loads everything anew.
  missed = false;
  state.events?.close();
  state.events = undefined;
  $('floor').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = sessionStorage.getItem(TOKEN_KEY) ? `That token was not accepted: ${message}` : '';
  sessionStorage.removeItem(TOKEN_KEY);
  live('Signed out', false);
  $('token').focus();
}

function failed(err) {
  if (err instanceof SignInNeeded) return signIn(err.message);
  live(`Cannot reach the hub: ${err.message}`, false);
}

/** Loads and shows the whole floor; false when the page was signed out (or in anew) meanwhile, and shows nothing. */
async function loadAll() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  await Promise.all([loadRules(), loadZones()]);
  await Promise.all([loadAlerts(), loadDevices(), loadSeries(), loadLayout()]);
  if (sessionStorage.getItem(TOKEN_KEY) !== token) {
    // On the page's timeline, as floor-loaded is: a load that came back to a page signed out meanwhile.
    performance.mark('floor-load-discarded');
    return false;
  }
  $('sign-in').hidden = true;
  $('floor').hidden = false;
  $('sign-out').hidden = !sessionStorage.getItem(TOKEN_KEY);
  // When the first full view was drawn, since the page was opened: what a screenshot waits for, and the page's speed.
  if (performance.getEntriesByName('floor-loaded').length === 0) performance.mark('floor-loaded');
  return true;
}

async function start() {
  try {
    if (await loadAll()) connect();
  } catch (err) {
    failed(err);
  }
}

$('sign-in-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  void start();
});
$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  signIn('');
});
$('who').value = sessionStorage.getItem(WHO_KEY) ?? '';
// The hub finds the devices, among all of them, not only among those shown.
$('device-filter').addEventListener('input', () => soon('devices', loadDevices, 300));
// Relative times ("2 min ago") and the charts age; refresh them without waiting for events.
setInterval(() => {
  if (!$('floor').hidden) renderDevices();
}, 10_000);
setInterval(() => {
  if (!$('floor').hidden)
    Promise.all([loadRules().then(loadZones), loadSeries(), loadDevices(), loadAlerts(), loadLayout()]).catch(failed);
}, 60_000);
void start();
