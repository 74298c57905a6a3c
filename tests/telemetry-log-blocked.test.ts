// A log reader that stops reading (a log driver that is down, a terminal paused or not read) holds
// neither the hub nor its memory: what waits for standard output is bounded, further lines are dropped and
// counted, and once output moves again a line says how many were not written.
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './support/hub.ts';

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

const FLOOD = [process.execPath, '--expose-gc', '--import', 'tsx', 'tests/support/log-flood.ts'];

/** The flood, its standard output on a pipe or a terminal that is not read until `read` is called. */
function flood(
  format: string,
  output: 'pipe' | 'terminal',
): { process: ChildProcessByStdio<Writable, Readable, Readable>; read: () => void } {
  if (output === 'pipe') {
    const [node = '', ...args] = FLOOD;
    const started = spawn(node, [...args, format], { stdio: ['pipe', 'pipe', 'pipe'] });
    return { process: started, read: () => undefined };
  }
  const started = spawn('python3', ['tests/support/unread-terminal.py', ...FLOOD, format], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return { process: started, read: () => started.stdin.write('read\n') };
}

describe.each([
  ['json', 'pipe'],
  ['text', 'pipe'],
  ['text', 'terminal'],
] as const)('the %s log with standard output, a %s, not read', (format, output) => {
  it('keeps at most its limit waiting, drops and counts the rest, and says so once output moves', async () => {
    const { process: started, read } = flood(format, output);
    child = started;
    let said = '';
    started.stderr.setEncoding('utf8').on('data', (chunk: string) => (said += chunk));
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

    read();
    // Each line telling of dropped lines, as output moves: one may come while the flood still runs.
    let told = 0;
    let partial = '';
    started.stdout.setEncoding('utf8').on('data', (chunk: string) => {
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
    started.kill('SIGTERM');
    await once(started, 'exit');
  });
});

// A terminal emulator or `script` hands the hub a pty's master side: opened anew, that would be a new
// pty no one reads, so the log is written to it as Node writes it.
it('reaches its reader whole when standard output is the master side of a pty', async () => {
  const started = spawn(
    'python3',
    [
      'tests/support/terminal-master-side.py',
      process.execPath,
      '--import',
      'tsx',
      'tests/support/log-lines.ts',
      '3000',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  child = started;
  let read = '';
  started.stdout.setEncoding('utf8').on('data', (chunk: string) => (read += chunk));
  const [code] = (await once(started, 'exit')) as [number | null];
  expect(code).toBe(0);
  expect(read.split('\n').filter((line) => line.includes('a line for the terminal'))).toHaveLength(3000);
});
