// A log reader that stops reading (a paused terminal, a log driver that is down) holds neither the
// hub nor its memory: what waits for standard output is bounded, further lines are dropped and
// counted, and once output moves again a line says how many were not written.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './support/hub.ts';

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

describe.each(['json', 'text'])('the %s log with standard output not read', (format) => {
  it('keeps at most its limit waiting, drops and counts the rest, and says so once output moves', async () => {
    const flood = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'tests/support/log-flood.ts', format], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = flood;
    let said = '';
    flood.stderr.setEncoding('utf8').on('data', (chunk: string) => (said += chunk));
    // Standard output is not read until the flood is over: the pipe fills and stays full.
    const report = await eventually(
      () => {
        const line = said.split('\n').find((l) => l.startsWith('{'));
        return line === undefined ? undefined : (JSON.parse(line) as { grewBy: number; dropped: number });
      },
      { what: 'the flood to end', timeoutMs: 60_000 },
    );
    // 100 MB was logged; 1 MiB may wait.
    expect(report.grewBy).toBeLessThan(40 * 1024 * 1024);
    expect(report.dropped).toBeGreaterThan(50_000);

    // Each line telling of dropped lines, as output moves: one may come while the flood still runs.
    let told = 0;
    let partial = '';
    flood.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const count = /(\d+) log lines? (?:was|were) not written: standard output was not read/.exec(line)?.[1];
        if (count !== undefined) told += Number(count);
      }
    });
    await eventually(() => told > 50_000, { what: 'lines telling of the dropped lines', timeoutMs: 30_000 });
    // The lines telling of it that were dropped themselves are not among those told of.
    expect(told).toBeLessThanOrEqual(report.dropped);
    flood.kill('SIGTERM');
    await once(flood, 'exit');
  });
});
