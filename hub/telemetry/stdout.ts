// Standard output for the log. A pipe whose reader stops reading (a log driver that is down, a
// pager left open) never holds the hub or its memory: lines wait in a queue of at most `maxBytes`,
// past which a line is dropped and counted, and the queue is written a batch at a time, each write
// taking what the pipe has room for and never waiting for more; a full pipe is tried again
// shortly. A reader that has gone (EPIPE) ends the output. At exit what waits gets two seconds.
// A terminal is written the same way, through a descriptor of its own opened non-blocking: Node
// writes terminals blocking, and a terminal paused with Ctrl-S would hold the hub.
import { constants, fstatSync, openSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';

const BATCH_BYTES = 64 * 1024;
const RETRY_MS = 50;
const EXIT_FLUSH_MS = 2000;

export interface StandardOutputOptions {
  maxBytes: number;
  /** A line dropped because `maxBytes` already wait. */
  onDropped: () => void;
  /** Lines were written after some were dropped: the output moves, and at least half its room is free to tell of it. */
  onMoving: () => void;
}

/**
 * Standard output's descriptor, or for a terminal one opened on it anew and non-blocking (on Linux,
 * through /proc; the flag belongs to the new descriptor alone, so Node's own writes are unchanged).
 * Where that cannot be opened, or standard output is a pty's master side (opening that makes a new
 * pty no one reads), the terminal is written as Node writes it, blocking.
 */
function standardOutputFd(): number {
  const fd = process.stdout.fd;
  if (!isatty(fd)) return fd;
  if (terminalFd === undefined) terminalFd = reopenedNonBlocking(fd);
  return terminalFd ?? fd;
}
let terminalFd: number | null | undefined;

/** The pty multiplexer (/dev/ptmx, /dev/pts/ptmx), character device 5, 2: what a pty's master side is, by whatever name. */
const PTY_MULTIPLEXER = (5 << 8) | 2;

function reopenedNonBlocking(fd: number): number | null {
  try {
    if (fstatSync(fd).rdev === PTY_MULTIPLEXER) return null;
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return null;
  }
}

/** Every standard output made in this process: at exit each has its time to write what waits. */
const outputs = new Set<StandardOutput>();
process.once('exit', () => outputs.forEach((o) => o.flushAtExit()));

export class StandardOutput {
  /** Lines waiting, joined into chunks of up to a batch each: a long queue is a few hundred chunks. */
  private readonly chunks: string[] = [];
  private lastChunkBytes = 0;
  /** The chunk being written, as bytes, and how much of it is written. */
  private writing: Buffer | undefined;
  private offset = 0;
  private queued = 0;
  private scheduled = false;
  private dropping = false;
  private gone = false;

  constructor(
    private readonly options: StandardOutputOptions,
    // Asking Node for standard output opens a pipe on it in non-blocking mode: a full pipe then
    // answers EAGAIN at once rather than holding the thread that writes.
    private readonly fd = standardOutputFd(),
  ) {
    outputs.add(this);
  }

  write(line: string): boolean {
    if (this.gone) return true;
    const bytes = Buffer.byteLength(line);
    if (this.queued + bytes > this.options.maxBytes) {
      this.dropping = true;
      this.options.onDropped();
      return false;
    }
    const last = this.chunks.length - 1;
    if (last >= 0 && this.lastChunkBytes + bytes <= BATCH_BYTES) {
      this.chunks[last] = `${this.chunks[last] ?? ''}${line}`;
      this.lastChunkBytes += bytes;
    } else {
      this.chunks.push(line);
      this.lastChunkBytes = bytes;
    }
    this.queued += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.pump());
    }
    return true;
  }

  /** Writes what the output takes now; tries again shortly when it takes nothing more. */
  private pump(): void {
    let outcome: 'moved' | 'full' | 'gone' = 'moved';
    // A few batches a turn, so a long queue does not hold the turn either.
    for (let i = 0; i < 4 && this.queued > 0 && outcome === 'moved'; i++) outcome = this.writeSome();
    if (outcome === 'moved' && this.dropping && this.queued <= this.options.maxBytes / 2) {
      this.dropping = false;
      this.options.onMoving();
    }
    // Lines written meanwhile (the telling above among them) wait for this decision.
    this.scheduled = false;
    if (this.queued === 0 || outcome === 'gone') return;
    this.scheduled = true;
    if (outcome === 'full') setTimeout(() => this.pump(), RETRY_MS).unref();
    else setImmediate(() => this.pump());
  }

  /** One write of what is left of the chunk being written, or of the next; 'full' when the output took nothing. */
  private writeSome(): 'moved' | 'full' | 'gone' {
    if (this.writing === undefined) {
      const next = this.chunks.shift();
      if (next === undefined) return 'moved';
      this.writing = Buffer.from(next);
      this.offset = 0;
    }
    try {
      const written = writeSync(this.fd, this.writing, this.offset);
      this.offset += written;
      this.queued -= written;
      if (this.offset >= this.writing.length) this.writing = undefined;
      return 'moved';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return 'full';
      // The reader has gone, or the descriptor with it: nothing more can be written.
      this.gone = true;
      this.chunks.length = 0;
      this.writing = undefined;
      this.queued = 0;
      outputs.delete(this);
      return 'gone';
    }
  }

  flushAtExit(): void {
    const until = Date.now() + EXIT_FLUSH_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (this.queued > 0 && !this.gone && Date.now() < until)
      if (this.writeSome() === 'full') Atomics.wait(pause, 0, 0, 10);
  }
}
