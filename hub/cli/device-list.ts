// A site's devices as a spreadsheet: `floorwatch devices import devices.csv` declares each row's
// device in the configuration file (comments and the rest of the file kept) and gives each device
// without a password one, printed once; `floorwatch devices export` writes the declared devices in
// the same columns. A file with any bad row changes nothing, and says every problem with its line;
// importing the same file again changes nothing.
import { isSeq, parseDocument, type Document } from 'yaml';
import { ms } from '../config/duration.ts';
import { deviceSchema } from '../config/site.ts';
import type { Config } from '../config/schema.ts';
import { toCsv } from '../reports/csv.ts';

export const COLUMNS = ['id', 'kind', 'zone', 'position', 'interval'] as const;
type Column = (typeof COLUMNS)[number];

const DEFAULT_INTERVAL = deviceSchema.shape.heartbeat_interval.parse(undefined);

/** The most rows taken from one file: a site's devices, not a flood. */
const MAX_ROWS = 100_000;

export interface DeviceRow {
  line: number;
  id: string;
  kind: string;
  zone?: string;
  position?: string;
  heartbeat_interval?: string;
}

/** RFC 4180 records, each with the line it starts on; quotes may hold commas, quotes and line breaks. */
export function parseCsv(text: string): { line: number; cells: string[] }[] {
  const records: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  for (let i = 0; i < body.length; i++) {
    const c = body.charAt(i);
    if (quoted) {
      if (c === '"' && body.charAt(i + 1) === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        cell += c;
      }
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body.charAt(i + 1) === '\n') i++;
      cells.push(cell);
      records.push({ line: start, cells });
      cells = [];
      cell = '';
      line++;
      start = line;
    } else cell += c;
  }
  if (cell !== '' || cells.length > 0) records.push({ line: start, cells: [...cells, cell] });
  return records.filter((r) => r.cells.some((c) => c.trim() !== ''));
}

/** The cell a problem is about, as it was written. */
function cellOf(row: Record<string, string | undefined>, field: PropertyKey | undefined): string {
  return typeof field === 'string' ? (row[field] ?? '') : '';
}

/** The rows of a device list, or every problem in it, each naming its line. */
export function deviceRows(text: string, zones: readonly string[]): { rows: DeviceRow[]; problems: string[] } {
  const [header, ...records] = parseCsv(text);
  if (!header)
    return {
      rows: [],
      problems: ['the file is empty: the first line names the columns (id,kind,zone,position,interval)'],
    };
  const names = header.cells.map((c) => c.trim().toLowerCase());
  const problems: string[] = [];
  const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (unknown.length > 0)
    problems.push(
      `line ${header.line}: unknown column(s) ${unknown.map((u) => JSON.stringify(u.slice(0, 40))).join(', ')} (use ${COLUMNS.join(', ')})`,
    );
  for (const needed of ['id', 'kind'] as const)
    if (!names.includes(needed))
      problems.push(`line ${header.line}: no "${needed}" column (columns: ${COLUMNS.join(', ')})`);
  if (records.length > MAX_ROWS) problems.push(`${records.length} devices; one file holds at most ${MAX_ROWS}`);
  if (problems.length > 0) return { rows: [], problems };
  const rows: DeviceRow[] = [];
  const firstLine = new Map<string, number>();
  for (const { line, cells } of records) {
    const value = (column: Column) => {
      const i = names.indexOf(column);
      const v = i < 0 ? '' : (cells[i] ?? '').trim();
      return v === '' ? undefined : v;
    };
    if (cells.length > names.length) {
      problems.push(`line ${line}: ${cells.length} cells, but the first line names ${names.length} columns`);
      continue;
    }
    const row = {
      id: value('id') ?? '',
      kind: value('kind') ?? '',
      ...(value('zone') !== undefined && { zone: value('zone') }),
      ...(value('position') !== undefined && { position: value('position') }),
      ...(value('interval') !== undefined && { heartbeat_interval: value('interval') }),
    };
    const checked = deviceSchema.safeParse(row);
    if (!checked.success) {
      for (const issue of checked.error.issues)
        problems.push(
          `line ${line}: ${issue.path.join('.').replace('heartbeat_interval', 'interval')} ${JSON.stringify(cellOf(row, issue.path[0]).slice(0, 40))}: ${issue.message}`,
        );
      continue;
    }
    if (row.zone !== undefined && zones.length > 0 && !zones.includes(row.zone))
      problems.push(`line ${line}: zone "${row.zone}" is not one of the configuration's zones (${zones.join(', ')})`);
    const seen = firstLine.get(row.id);
    if (seen !== undefined) problems.push(`line ${line}: device ${row.id} is listed twice (first on line ${seen})`);
    firstLine.set(row.id, line);
    rows.push({ line, ...row });
  }
  return { rows, problems };
}

/**
 * Declares the rows in the configuration file's text: a device already there gets the row's
 * columns (its other settings, such as calibration, kept), a new one is added. Returns the new
 * text and how many devices it added or changed.
 */
export function declareRows(
  yamlText: string,
  rows: readonly DeviceRow[],
): { text: string; added: number; changed: number } {
  const doc: Document = parseDocument(yamlText);
  if (!isSeq(doc.get('devices'))) doc.set('devices', doc.createNode([]));
  const declared = (doc.toJS() as { devices?: { id?: unknown }[] | null }).devices ?? [];
  const index = new Map(declared.map((d, i) => [String(d.id), i]));
  let added = 0;
  let changed = 0;
  for (const row of rows) {
    const at = index.get(row.id);
    const fields = {
      kind: row.kind,
      zone: row.zone,
      position: row.position,
      heartbeat_interval: row.heartbeat_interval,
    };
    if (at === undefined) {
      const { line: _line, ...device } = row;
      doc.addIn(['devices'], doc.createNode(device));
      index.set(row.id, index.size);
      added++;
      continue;
    }
    const before = declared[at] as Record<string, unknown>;
    let differs = false;
    for (const [field, value] of Object.entries(fields)) {
      // An interval is the same however it is written, and unset is the default.
      const same =
        field === 'heartbeat_interval'
          ? ms(value ?? DEFAULT_INTERVAL) === ms(typeof before[field] === 'string' ? before[field] : DEFAULT_INTERVAL)
          : before[field] === value;
      if (same) continue;
      differs = true;
      if (value === undefined) doc.deleteIn(['devices', at, field]);
      else doc.setIn(['devices', at, field], value);
    }
    if (differs) changed++;
  }
  return { text: added + changed > 0 ? doc.toString() : yamlText, added, changed };
}

/** The declared devices in the columns `import` reads. */
export function exportRows(config: Config): string {
  return toCsv(
    COLUMNS,
    config.devices.map((d) => [d.id, d.kind, d.zone ?? null, d.position ?? null, d.heartbeat_interval]),
  );
}
