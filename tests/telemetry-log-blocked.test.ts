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

    let out = '';
    flood.stdout.setEncoding('utf8').on('data', (chunk: string) => (out = (out + chunk).slice(-64 * 1024)));
    const told = await eventually(
      () => /(\d+) log lines were not written: standard output was not read/.exec(out) ?? undefined,
      {
        what: 'a line telling of the dropped lines',
        timeoutMs: 30_000,
      },
    );
    expect(Number(told[1])).toBeGreaterThan(50_000);
    expect(Number(told[1])).toBeLessThanOrEqual(report.dropped);
    flood.kill('SIGTERM');
    await once(flood, 'exit');
  });
});
