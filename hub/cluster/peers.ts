// What the other hubs of a cluster take in, for this hub's device list and live feed: their
// forwarded journals (forwarder.ts), each read from its start (what Redis still holds of it), so
// the device list learns what happened before this hub saw that hub; the live feed gets only
// what came after. A
// reading is still stored and judged once (by the hub that took it, and by the rules leader);
// this only tells every hub what the floor is doing.
import type { Redis } from 'ioredis';
import type { Entry } from '../domain/reading.ts';
import { streamKey } from './forwarder.ts';
import type { ClusterNodes } from './nodes.ts';
import { StreamReader, type ForwardedEntry } from './stream-reader.ts';

export interface PeerEntriesOptions {
  /** A connection of its own: the reads block. */
  redis: Redis;
  node: string;
  nodes: ClusterNodes;
  /** Every entry of the other hubs, history included: for the device list. */
  known: (entries: Entry[]) => void;
  /** Those that came since this hub first saw their hub: for the live feed. */
  live: (entries: Entry[]) => void;
  /** Told once per failure run, not once per attempt. */
  onError: (err: unknown) => void;
  /** Told of each entry passed over: not one (stream-reader.ts). */
  onMalformed?: (node: string, lsn: number, why: string) => void;
  /** How long a read waits for news. Default 500 ms. */
  blockMs?: number;
}

export class PeerEntries {
  private readonly positions = new Map<string, number>();
  /** Per hub, the last entry it had forwarded when this hub first saw it. */
  private readonly liveAfter = new Map<string, number>();
  private readonly reader: StreamReader;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: PeerEntriesOptions) {
    this.reader = new StreamReader({
      redis: options.redis,
      blockMs: options.blockMs ?? 500,
      ...(options.onMalformed && { onMalformed: options.onMalformed }),
    });
  }

  /**
   * Hands entries on in one go; if that fails, one by one, passing over the one that fails: read
   * again and again, it would keep the device list from everything behind it.
   */
  private take(peer: string, entries: readonly ForwardedEntry[], to: (entries: Entry[]) => void): void {
    if (entries.length === 0) return;
    try {
      to(entries.map((e) => e.entry));
      return;
    } catch {
      // Told below, entry by entry.
    }
    for (const e of entries)
      try {
        to([e.entry]);
      } catch (err) {
        this.options.onMalformed?.(peer, e.lsn, `the device list failed on it (${(err as Error).message})`);
      }
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    const { redis, node, nodes, known, live, onError } = this.options;
    let failing = false;
    while (!this.stopped) {
      try {
        for (const peer of await nodes.dropForgotten(this.positions)) this.liveAfter.delete(peer);
        for (const peer of await nodes.known()) {
          if (peer === node || this.positions.has(peer)) continue;
          const [last] = await redis.xrevrange(streamKey(peer), '+', '-', 'COUNT', 1);
          this.liveAfter.set(peer, last ? Number(last[0].split('-')[0]) : 0);
          this.positions.set(peer, 0);
        }
        // No other hub yet: nothing to block on, so wait here rather than spin.
        if (this.positions.size === 0) await new Promise((resolve) => setTimeout(resolve, this.options.blockMs ?? 500));
        for (const [peer, { entries, through }] of await this.reader.read(this.positions)) {
          const after = this.liveAfter.get(peer) ?? 0;
          this.take(peer, entries, known);
          this.take(
            peer,
            entries.filter((e) => e.lsn > after),
            live,
          );
          this.positions.set(peer, through);
        }
        failing = false;
      } catch (err) {
        if (!failing) onError(err);
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }
}
