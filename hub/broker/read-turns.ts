// Reads of flooding clients, spread over turns of the event loop. A journal commit completes the
// batch of every client in it at once, and each client then reads its next chunk right there; a
// window's end lets every held-back client go at once. In one turn that is hundreds of reads and
// parses, a few hundred milliseconds in which no device is acknowledged and no alert goes out.
// Once a turn has read for its budget, further reads wait for the next turn, first come first served.
import type { Duplex } from 'node:stream';

export class ReadTurns {
  /** When the current turn's first read came; undefined until one does. */
  private startedAt: number | undefined;
  /** Streams waiting for a later turn and since when, in the order they came (a Map keeps it, and each once). */
  private readonly deferred = new Map<Duplex, number>();
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly options: {
      now: () => number;
      budgetMs: number;
      /** At the start of each turn, before deferred streams are read: others waiting get their go first. */
      onTurn: () => void;
    },
  ) {}

  /** Whether this turn has read for its budget; the first call of a turn starts it. */
  spent(): boolean {
    if (this.closed) return false;
    const now = this.options.now();
    if (this.startedAt === undefined) {
      this.startedAt = now;
      this.schedule();
      return false;
    }
    return now - this.startedAt >= this.options.budgetMs;
  }

  /** The stream is read in a later turn: it is told it is readable then. */
  defer(stream: Duplex): void {
    if (!this.deferred.has(stream)) this.deferred.set(stream, this.options.now());
    this.schedule();
  }

  forget(stream: Duplex): void {
    this.deferred.delete(stream);
  }

  /** How long the stream deferred longest ago has waited for its turn, ms: how far reading is behind. */
  waitedMs(): number {
    const first = this.deferred.values().next();
    return first.done ? 0 : this.options.now() - first.value;
  }

  /** Every deferred stream is told it is readable, as the hub stops. */
  close(): void {
    this.closed = true;
    const streams = [...this.deferred.keys()];
    this.deferred.clear();
    for (const stream of streams) setImmediate(() => stream.emit('readable'));
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    // setImmediate runs after the poll for I/O: acknowledgements and commits come in between.
    setImmediate(() => {
      this.scheduled = false;
      this.startedAt = undefined;
      this.options.onTurn();
      for (const stream of this.deferred.keys()) {
        if (this.spent()) return;
        this.deferred.delete(stream);
        stream.emit('readable');
      }
    });
  }
}
