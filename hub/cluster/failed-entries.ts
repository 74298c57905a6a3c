// Entries from other hubs that the rules fail on. The engine then goes back to its last save and
// the leader reads again from there: without this it would fail on the same entry for ever, and
// the cluster's alerts would stop behind it. After a failure, entries are applied one at a time
// until a read goes through, so only the entry that fails is passed over (told, and skipped for
// the rest of the term); the others are applied as usual.
import type { Entry } from '../domain/reading.ts';
import type { ForwardedEntry } from './stream-reader.ts';

/** Entries remembered as failed at most; past it the oldest are forgotten (their hubs' positions are past them by then). */
const REMEMBERED = 10_000;

export class FailedEntries {
  private readonly failed = new Set<string>();
  private singly = false;

  constructor(private readonly passOver: (node: string, lsn: number, why: string) => void) {}

  /**
   * Applies a hub's entries after the leader's `lsn` and returns the leader's LSN after them.
   * `moved` is told of each entry applied alone: the leader's LSN and the hub's entry it reached.
   * Rethrows a failure, once the entry is remembered, for the leader to read again.
   */
  apply(
    node: string,
    entries: readonly ForwardedEntry[],
    lsn: number,
    apply: (entries: Entry[], lastLsn: number) => void,
    moved: (lsn: number, reached: number) => void,
  ): number {
    const fresh = entries.filter((e) => !this.failed.has(`${node} ${e.lsn}`));
    if (fresh.length === 0) return lsn;
    if (!this.singly) {
      try {
        apply(
          fresh.map((e) => e.entry),
          lsn + fresh.length,
        );
      } catch (err) {
        this.singly = true;
        throw err;
      }
      return lsn + fresh.length;
    }
    let at = lsn;
    for (const e of fresh) {
      try {
        apply([e.entry], at + 1);
      } catch (err) {
        if (this.failed.size >= REMEMBERED) this.failed.delete(this.failed.values().next().value!);
        this.failed.add(`${node} ${e.lsn}`);
        this.passOver(node, e.lsn, `the rules failed on it (${(err as Error).message})`);
        throw err;
      }
      at += 1;
      moved(at, e.lsn);
    }
    return at;
  }

  /** A read went through: entries are applied in whole batches again. */
  wentThrough(): void {
    this.singly = false;
  }
}
