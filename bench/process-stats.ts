// Resident memory and CPU time of a process, from /proc, as the operating system accounts them.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface ProcessSample {
  at: number;
  rssBytes: number;
  cpuSeconds: number;
}

export function sampleProcess(pid: number): ProcessSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  // Fields after the command name, which may itself hold spaces: utime and stime are 14th and 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { at: performance.now(), rssBytes: rssKb * 1024, cpuSeconds: ticks / TICKS_PER_SECOND };
}

/** Share of one core the process used between two samples. */
export function cpuShare(a: ProcessSample, b: ProcessSample): number {
  return (b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000);
}
