// Files the hub keeps across a crash or power loss: what fsync must reach for a write to last.
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes file creations, renames and deletions in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `path` with `text` so that a crash at any point leaves either the old file or the new
 * one whole: written to `<path>.tmp` and fsync'd, renamed over it, and the rename made durable.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
  await fsyncDir(dirname(path));
}
