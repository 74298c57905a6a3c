// The shape of the code, checked like its behaviour: folders depend on each other in one direction,
// the vocabulary depends on nothing, and files stay small enough to read in one sitting.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const CODE = ['hub', 'sensors-firmware-sim', 'dashboards', 'bench', 'scripts', 'tests'];

/** Longer files, each with why it is one file. */
const LONG_FILES: Record<string, string> = {
  'bench/run.ts': 'the benchmark scenarios side by side, each measured against its peers in the same run',
  'tests/api-routes.test.ts': 'every API route through app.inject, one table of routes and answers',
  'tests/reports.test.ts': 'the shift report against both stores, one scenario',
  'tests/rules-engine.test.ts': 'the rule engine, one fixture for every rule kind',
  'tests/store-contract.ts': 'the contract every store passes, kept whole as aedes-persistence keeps its suite',
  'tests/outbox-contract.ts': 'the contract every alert outbox passes, kept whole as the store contract is',
  'tests/serial.test.ts': 'the serial source from frames to readings over a real pty pair',
  'tests/scenarios.test.ts': 'the floor scenarios end to end, one simulated floor',
  'hub/broker/broker.ts': 'Aedes assembled with its guard, admission, queues and servers: one start, one reload',
  'hub/store/sqlite.ts':
    'the embedded store whole, as InfluxStore answers: schema, writes, queries, minutes, retention',
  'hub/web/floor.js': 'the floor page as one plain ES module, served as it is, with no build step',
  'tests/dashboards.test.ts':
    'the generated dashboards, then every query of them against one simulated floor in InfluxDB',
  'tests/floor-page.test.ts': 'the floor page in one browser session against one hub, each step building on the last',
};
const MAX_LINES = 400;

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory())
      return e.name === 'node_modules' || e.name === 'results' || e.name === 'artifacts' ? [] : files(path);
    return /\.(ts|js)$/.test(e.name) ? [path] : [];
  });
}

/** `hub/<folder>` for the hub's folders, the top folder otherwise. */
function folderOf(path: string): string {
  const parts = path.split('/');
  return parts[0] === 'hub' && parts.length > 2 ? `hub/${parts[1] ?? ''}` : (parts[0] ?? '');
}

/** Every relative import and re-export of every file, type-only ones included. */
function imports(): Array<{ from: string; to: string }> {
  const all = CODE.flatMap(files);
  return all.flatMap((from) => {
    const text = readFileSync(join(ROOT, from), 'utf8');
    return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) => ({
      from,
      to: relative(ROOT, resolve(ROOT, dirname(from), m[1] ?? '')),
    }));
  });
}

function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of imports()) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)?.add(b);
  }
  return graph;
}

/** A cycle of folders, as a path that starts and ends at the same folder; undefined when there is none. */
function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('the structure', () => {
  it('has no import cycle between folders', () => {
    expect(findCycle(folderGraph())).toBeUndefined();
  });

  it('finds a cycle when there is one', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(findCycle(graph)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('keeps the vocabulary free of the rest, and the hub from importing its tests or benchmarks', () => {
    const graph = folderGraph();
    expect([...(graph.get('hub/domain') ?? [])]).toEqual([]);
    for (const [from, to] of graph) {
      if (!from.startsWith('hub')) continue;
      expect(
        [...to].filter((t) => !t.startsWith('hub')),
        from,
      ).toEqual([]);
    }
  });

  it('lets only the hub itself assemble the parts, and the simulator use only the vocabulary, the configuration and the hub', () => {
    for (const { from, to } of imports()) {
      if (folderOf(to) === 'hub/compose' && from.startsWith('hub/') && folderOf(from) !== 'hub/compose')
        expect(from, to).toBe('hub/hub.ts');
      if (from.startsWith('sensors-firmware-sim/') && to.startsWith('hub/')) {
        expect(['hub/domain', 'hub/config', 'hub'], `${from} imports ${to}`).toContain(folderOf(to));
      }
    }
  });

  it(`has no file over ${MAX_LINES} lines without a stated reason`, () => {
    const long = CODE.flatMap(files)
      .map((path) => ({ path, lines: readFileSync(join(ROOT, path), 'utf8').split('\n').length }))
      .filter((f) => f.lines > MAX_LINES && LONG_FILES[f.path] === undefined);
    expect(long).toEqual([]);
    // A reason for a file that is no longer long is stale.
    const stale = Object.keys(LONG_FILES).filter(
      (path) => readFileSync(join(ROOT, path), 'utf8').split('\n').length <= MAX_LINES,
    );
    expect(stale).toEqual([]);
  });
});
