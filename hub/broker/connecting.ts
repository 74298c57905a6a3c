// Sockets that have not sent CONNECT yet, per source address (an IPv6 /64 being one). Each is an
// Aedes client from its first byte, and the sockets the broker holds are bounded in all
// (max_connections and the room for those being refused): one source holding that room with
// silent sockets would shut every device out. So a source has at most so many waiting to
// connect; past it a new one is closed at once. A floor behind one NAT reconnecting all at once
// sends its CONNECTs within milliseconds of each socket, and a device refused retries.
import type { Duplex } from 'node:stream';
import { sourceOf } from '../security/source-address.ts';

export class Connecting {
  private readonly bySource = new Map<string, number>();
  private readonly waiting = new WeakMap<Duplex, () => void>();

  /** The bound is read at each socket: a reloaded configuration's applies at once. */
  constructor(private readonly limits: { readonly maxConnectingPerAddress: number }) {}

  /** A new socket from `address`: counted until it sends CONNECT or closes; false when its source has as many waiting. */
  open(stream: Duplex, address: string): boolean {
    const source = sourceOf(address);
    const n = this.bySource.get(source) ?? 0;
    if (n >= this.limits.maxConnectingPerAddress) return false;
    this.bySource.set(source, n + 1);
    const release = () => {
      // Once only: at CONNECT or at close, whichever comes first.
      if (!this.waiting.delete(stream)) return;
      const left = (this.bySource.get(source) ?? 1) - 1;
      if (left > 0) this.bySource.set(source, left);
      else this.bySource.delete(source);
    };
    this.waiting.set(stream, release);
    stream.once('close', release);
    return true;
  }

  /** The socket sent CONNECT. */
  connected(stream: Duplex): void {
    this.waiting.get(stream)?.();
  }

  /** Sources with sockets waiting to connect. */
  get sources(): number {
    return this.bySource.size;
  }
}
