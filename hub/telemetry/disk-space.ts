// The data disk's free space, which the rules' tick asks for every second. Read in the background
// and never awaited by the tick: a disk that does not answer (a network mount gone dead) must not
// stop the time-driven alerts behind it — devices gone silent, escalations, the hub's own health.
// One read at a time, so a hung one holds one of the threads that do file work, not all of them.
import { statfs } from 'node:fs/promises';

export class DiskSpace {
  private last: number | undefined;
  private reading: Promise<void> | undefined;
  /** Settles once the first read has answered, either way. */
  readonly firstRead: Promise<void>;

  constructor(private readonly dir: string) {
    this.firstRead = this.read();
  }

  /** The free space as last read, %; undefined until a read has answered. Starts the next read unless one is under way. */
  freePercent(): number | undefined {
    void this.read();
    return this.last;
  }

  private read(): Promise<void> {
    this.reading ??= statfs(this.dir)
      .then(
        (fs) => {
          this.last = (100 * fs.bavail) / fs.blocks;
        },
        // An unreadable disk size is no alert (the journal's own write errors are), and no reason to
        // forget the last one: a disk alert would resolve at one failed read and fire at the next.
        () => undefined,
      )
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}
