// A data file the hub cannot make sense of (cut short by a full disk or a power cut, edited by
// hand) is set aside under a name of its own rather than read as empty and overwritten: there to
// be looked into. Named by when, so files set aside at earlier starts are kept too, but only the
// newest few: a disk that damages the file at every start must not fill up with them.
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Files set aside kept at most for each file, the newest. */
const KEPT_ASIDE = 5;

/** Oldest first: by the time in the name, then by the number after it of one set aside in the same millisecond. */
const byAge = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Renames `file` to `<file>.unreadable-<time>` and removes all but the newest of those set aside
 * before; says where it went, or why it could not be moved, for the log.
 */
export function setFileAside(file: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[:.]/g, '-');
  let aside = `${file}.unreadable-${stamp}`;
  for (let n = 2; existsSync(aside); n++) aside = `${file}.unreadable-${stamp}-${n}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    return `could not be set aside (${(err as Error).message})`;
  }
  try {
    // Files only: a directory of that name (made by someone else) is not the hub's to remove.
    const dir = dirname(file);
    const earlier = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.startsWith(`${basename(file)}.unreadable-`))
      .map((e) => e.name)
      .sort(byAge);
    for (const name of earlier.slice(0, -KEPT_ASIDE)) rmSync(join(dir, name), { force: true });
  } catch (err) {
    return `set aside as ${aside} (older ones set aside could not be removed: ${(err as Error).message})`;
  }
  return `set aside as ${aside}`;
}
