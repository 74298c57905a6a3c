// The MQTT parser buffers a whole packet before anything can look at it, up to the 256 MB the
// protocol allows. This reads only the fixed headers as bytes stream past, so a connection
// announcing a packet above the limit is closed before the packet is buffered.

export class PacketSizeLimit {
  /** 'type': next byte starts a packet; 'length': inside the remaining-length varint; 'body': skipping. */
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private remaining = 0;

  constructor(private readonly maxBytes: number) {}

  /** Scans the next bytes of the stream; returns the announced size of a packet over the limit. */
  scan(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skip = Math.min(this.remaining, chunk.length - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = 'type';
      } else if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
      } else {
        const byte = chunk[i++] ?? 0;
        this.length += (byte & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        if (this.length > this.maxBytes) return this.length;
        // Malformed (more than 4 length bytes): the parser closes the connection itself.
        if ((byte & 0x80) !== 0 && this.multiplier <= 128 ** 4) continue;
        this.remaining = this.length;
        this.state = this.remaining === 0 ? 'type' : 'body';
      }
    }
    return undefined;
  }
}
