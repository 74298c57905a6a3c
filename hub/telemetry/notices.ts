// Log lines about things a client can repeat in a loop (a refusal, a full queue): each kind, by
// its key, at most once a minute, so a misbehaving client cannot flood the log. The keys held are
// bounded; forgetting them costs at most one extra line each.
import { clip } from '../domain/clip.ts';

const EVERY_MS = 60_000;
const KEYS_MAX = 10_000;
/**
 * Keys and messages carry what a client sent (its id, a topic), which may be tens of kilobytes:
 * each is cut to this many characters, so the keys held and the lines written stay small.
 */
const KEY_CHARS = 256;
const MESSAGE_CHARS = 2000;

export class NoticeLog {
  private readonly lastLogged = new Map<string, number>();

  constructor(
    /** A pino log, the API's among them. */
    private readonly log: { warn: (message: string) => void },
    private readonly now: () => number,
  ) {}

  /** Logs `message` as a warning unless the same key was logged within the last minute. */
  once(fullKey: string, message: string): void {
    const key = fullKey.slice(0, KEY_CHARS);
    const at = this.now();
    if (at - (this.lastLogged.get(key) ?? -Infinity) < EVERY_MS) return;
    if (this.lastLogged.size >= KEYS_MAX) this.lastLogged.clear();
    this.lastLogged.set(key, at);
    // The characters kept, then the ellipsis.
    this.log.warn(clip(message, MESSAGE_CHARS + 1));
  }
}
