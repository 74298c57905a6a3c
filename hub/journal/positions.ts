// Where each consumer is in the journal, and so which entries must still be kept. A position is
// kept in one of three ways:
// - by the journal (the store writer, the device registry): the last LSN the handler got through,
//   in consumers/<name>.pos, written to a temp file, fsync'd and renamed, so a crash leaves the
//   old or the new;
// - in memory (live views): for this run only, holding nothing back;
// - by the consumer, with its own state (the rule engine, in its SQLite transaction): the journal
//   asks it. consumers/<name>.own records only that such a consumer exists, so its entries are
//   kept while it is not running too.
// Entries may go once every position is past them; never while a consumer that keeps its own
// position has not been heard from since the journal opened, as nobody knows where it is.
import { readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, replaceFile } from '../domain/durable-file.ts';
import { describeError, type JournalLog } from './segments.ts';

export const CONSUMER_NAME = /^[a-z][a-z0-9-]{0,31}$/;

const KEPT = '.pos';
const OWN = '.own';

/** One running consumer's position, however it is kept. */
export interface ConsumerPosition {
  /** After a failure of the handler, delivery resumes after this LSN; `handled` is the last one the handler got through. */
  resumeAfter(handled: number): number;
  /**
   * Saves `handled` as the committed position (or, for one the consumer keeps, asks it); never
   * rejects. True when that went to disk (or tried to), so the next save waits its interval.
   */
  commit(handled: number): Promise<boolean>;
  readonly committed: number;
  /** The consumer stopped. */
  release(): void;
}

interface Owner {
  /** Asked while the consumer runs. */
  position?: () => number;
  /** What it said last; undefined until it has run since the journal opened. */
  last?: number;
}

export class Positions {
  private constructor(
    private readonly dir: string,
    private readonly report: JournalLog,
    /** Journal-kept positions, running or known from disk. */
    private readonly kept: Map<string, number>,
    private readonly owners: Map<string, Owner>,
  ) {}

  static async open(dir: string, report: JournalLog): Promise<Positions> {
    const kept = new Map<string, number>();
    const owners = new Map<string, Owner>();
    for (const file of await readdir(dir)) {
      const path = join(dir, file);
      if (file.endsWith('.tmp')) {
        // A position write interrupted before its rename; the file it was to replace holds the old one.
        await unlink(path).catch(() => {});
        continue;
      }
      const named = /^(.+)(\.pos|\.own)$/.exec(file);
      const name = named?.[1];
      if (name === undefined || !CONSUMER_NAME.test(name)) continue;
      if (named?.[2] === OWN) {
        owners.set(name, {});
        continue;
      }
      const m = /^(\d+)\n?$/.exec(await readFile(path, 'utf8'));
      if (!m) {
        // Replaying everything is safe for idempotent consumers; skipping is not.
        report('warn', 'journal: unreadable consumer position; it will replay from the oldest entry', {
          consumer: name,
          file: path,
        });
      }
      kept.set(name, m ? Number(m[1]) : 0);
    }
    return new Positions(dir, report, kept, owners);
  }

  /** The position kept on disk for a consumer, if any. */
  saved(name: string): number | undefined {
    return this.kept.get(name);
  }

  /** Every known position: journal-kept ones, and consumer-kept ones heard from since the journal opened. */
  known(): Map<string, number> {
    const all = new Map(this.kept);
    for (const [name, owner] of this.owners) {
      const lsn = owner.position?.() ?? owner.last;
      if (lsn !== undefined) all.set(name, lsn);
    }
    return all;
  }

  /** Every consumer known, from disk or since. */
  names(): string[] {
    return [...new Set([...this.kept.keys(), ...this.owners.keys()])];
  }

  /** The highest position on disk: a journal with no entries left continues after it. */
  highest(): number {
    return Math.max(0, ...this.kept.values());
  }

  /** The newest LSN every consumer is past; undefined while a consumer that keeps its own position is unheard of. */
  floor(): number | undefined {
    let min = Number.POSITIVE_INFINITY;
    for (const lsn of this.kept.values()) min = Math.min(min, lsn);
    for (const owner of this.owners.values()) {
      const lsn = owner.position?.() ?? owner.last;
      if (lsn === undefined) return undefined;
      min = Math.min(min, lsn);
    }
    return min;
  }

  /**
   * A position the journal keeps on disk; `persisted` when the file already says `start`. It is
   * saved no further than `holds` says the consumer's work is complete.
   */
  keptByJournal(name: string, start: number, persisted: boolean, holds?: () => number | undefined): ConsumerPosition {
    // Registered at once, so removal accounts for it before anything is awaited.
    this.kept.set(name, start);
    const stale = this.owners.delete(name) ? join(this.dir, `${name}${OWN}`) : undefined;
    let committed = start;
    let needsWrite = !persisted;
    return {
      resumeAfter: (handled) => handled,
      commit: async (through) => {
        const handled = Math.min(through, holds?.() ?? through);
        if (handled === committed && !needsWrite) return false;
        try {
          if (stale) await rm(stale, { force: true });
          await this.write(name, handled);
        } catch (err) {
          this.report('warn', 'journal: could not save consumer position; will retry', {
            consumer: name,
            lsn: handled,
            error: describeError(err),
          });
          return true;
        }
        committed = handled;
        needsWrite = false;
        this.kept.set(name, handled);
        return true;
      },
      get committed() {
        return committed;
      },
      release: () => undefined,
    };
  }

  /** A position for this run only. */
  inMemory(start: number): ConsumerPosition {
    let committed = start;
    return {
      resumeAfter: (handled) => handled,
      commit: async (handled) => {
        committed = handled;
        return false;
      },
      get committed() {
        return committed;
      },
      release: () => undefined,
    };
  }

  /**
   * A position the consumer keeps with its own state: `position()` is the last LSN whose effects
   * it has made durable. Delivery starts after it, resumes after it when the handler fails, and
   * the entries after it are kept.
   */
  keptByConsumer(name: string, position: () => number): ConsumerPosition {
    const owner: Owner = { position, last: position() };
    const hadMarker = this.owners.has(name);
    this.owners.set(name, owner);
    const stale = this.kept.delete(name) ? join(this.dir, `${name}${KEPT}`) : undefined;
    let marked = hadMarker && stale === undefined;
    return {
      resumeAfter: () => position(),
      commit: async () => {
        owner.last = position();
        if (marked) return false;
        try {
          await this.mark(name);
          if (stale) await rm(stale, { force: true });
          marked = true;
        } catch (err) {
          this.report('warn', 'journal: could not record a consumer that keeps its own position; will retry', {
            consumer: name,
            error: describeError(err),
          });
        }
        return true;
      },
      get committed() {
        return position();
      },
      release: () => {
        owner.last = position();
        delete owner.position;
      },
    };
  }

  /** Forgets a consumer: its position no longer holds entries back. */
  async forget(name: string): Promise<void> {
    this.kept.delete(name);
    this.owners.delete(name);
    await rm(join(this.dir, `${name}${KEPT}`), { force: true });
    await rm(join(this.dir, `${name}${OWN}`), { force: true });
    await fsyncDir(this.dir).catch(() => {});
  }

  /** Write to a temp file, fsync, rename: a crash leaves either the old or the new position. */
  private async write(name: string, lsn: number): Promise<void> {
    await replaceFile(join(this.dir, `${name}${KEPT}`), `${lsn}\n`);
  }

  private async mark(name: string): Promise<void> {
    await replaceFile(join(this.dir, `${name}${OWN}`), 'position kept by the consumer\n');
  }
}
