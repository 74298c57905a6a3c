// The floor plan: `layout:` from GET /api/v1/layout drawn as SVG. Zones are shapes coloured by
// their state against requirements (the same state the tiles show), positions are dots coloured
// by their equipment's state. Names reach the drawing as text nodes and attributes, never markup.
// Every shape and dot can be reached by keyboard and says its state in words (<title>).

const SVG = 'http://www.w3.org/2000/svg';
/** A zone's state in words, as its tile's badge and its shape on the plan say it. */
export const COMPLIANCE = new Map([
  ['ok', 'Inside requirements'],
  ['warning', 'Warning'],
  ['critical', 'Critical'],
  ['no_data', 'No recent data'],
]);
const zoneWords = ({ name, compliance }) => `${name}: ${COMPLIANCE.get(compliance) ?? compliance}`;
const POSITION_WORDS = new Map([
  ['ok', 'equipment online'],
  ['fault', 'equipment reports a fault'],
  ['offline', 'equipment offline'],
  ['empty', 'no device declared here'],
]);

function shape(tag, attrs, title) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (title !== undefined) {
    const t = document.createElementNS(SVG, 'title');
    t.textContent = title;
    node.append(t);
  }
  return node;
}

/** Click and Enter or Space alike: the plan is used with a mouse on a wall screen and a keyboard at a desk. */
function activate(node, label, action) {
  node.setAttribute('tabindex', '0');
  node.setAttribute('role', 'button');
  node.setAttribute('aria-label', label);
  node.addEventListener('click', action);
  node.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      action();
    }
  });
}

/** Where a zone's name goes: centred along its top edge, clear of the seats inside. */
function labelAt(z, size) {
  if (z.rect) return [z.rect[0] + z.rect[2] / 2, z.rect[1] + size * 1.2];
  const xs = z.polygon.map((p) => p[0]);
  const ys = z.polygon.map((p) => p[1]);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, Math.min(...ys) + size * 1.2];
}

/**
 * The plan as an SVG element. `zoneState(id)` gives { name, compliance } for a zone; `image` is an
 * object URL of the plan image, or undefined.
 */
export function drawPlan(layout, { zoneState, image, openZone, openPosition }) {
  const svg = shape('svg', {
    class: 'plan',
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    preserveAspectRatio: 'xMidYMid meet',
    role: 'group',
    'aria-label': `Floor plan, ${layout.width} × ${layout.height} ${layout.units}`,
  });
  if (image)
    svg.append(
      shape('image', {
        href: image,
        x: 0,
        y: 0,
        width: layout.width,
        height: layout.height,
        preserveAspectRatio: 'none',
        class: 'plan-image',
      }),
    );
  // Text and dots sized to the plan, so a plan drawn in metres or in pixels reads the same.
  const size = Math.max(layout.width, layout.height) / 60;
  const radius = Math.min(layout.width, layout.height) / 50;
  for (const z of layout.zones) {
    const zone = zoneState(z.zone);
    const words = zoneWords(zone);
    const attrs = { class: `plan-zone compliance-${zone.compliance}`, 'data-plan-zone': z.zone };
    const drawn = z.rect
      ? shape('rect', { ...attrs, x: z.rect[0], y: z.rect[1], width: z.rect[2], height: z.rect[3] }, words)
      : shape('polygon', { ...attrs, points: z.polygon.map((p) => p.join(',')).join(' ') }, words);
    activate(drawn, words, () => openZone(z.zone));
    const [x, y] = labelAt(z, size);
    const label = shape('text', { class: 'plan-label', x, y, 'font-size': size, 'text-anchor': 'middle' });
    label.textContent = zone.name;
    svg.append(drawn, label);
  }
  for (const p of layout.positions) {
    const devices = p.devices.map(
      (d) => `${d.id} (${d.kind ?? 'device'}, ${d.online ? (d.status ?? 'online') : 'offline'})`,
    );
    const words = `${p.position}: ${POSITION_WORDS.get(p.state) ?? p.state}${devices.length ? ` — ${devices.join(', ')}` : ''}`;
    const dot = shape(
      'circle',
      { class: `plan-position state-${p.state}`, 'data-plan-position': p.position, cx: p.x, cy: p.y, r: radius },
      words,
    );
    activate(dot, words, () => openPosition(p.position));
    svg.append(dot);
  }
  return svg;
}

/** Recolours the zones of a drawn plan, as readings and alerts change their state. */
export function colourZones(svg, zoneState) {
  for (const node of svg.querySelectorAll('.plan-zone')) {
    const zone = zoneState(node.dataset.planZone);
    const words = zoneWords(zone);
    node.setAttribute('class', `plan-zone compliance-${zone.compliance}`);
    node.setAttribute('aria-label', words);
    node.querySelector('title').textContent = words;
  }
}
