// Walks the fixed headers of MQTT packets as bytes stream from a connection to the broker, and
// lets a caller judge each packet by its first byte (type and flags) and announced length before
// the broker's parser sees it: pass it on, leave it out, or close the connection. The parser
// buffers a whole packet before anything can look at it; this reads only the headers, so a packet
// can be refused before it is buffered, and one left out costs nothing but skipping its bytes.

export type PacketVerdict = 'keep' | 'drop' | 'close';

/** Called once per packet, when its fixed header is complete. */
export type PacketJudge = (firstByte: number, length: number) => PacketVerdict;

/** Longest remaining-length field MQTT allows. */
const MAX_LENGTH_BYTES = 4;

export class PacketScanner {
  /** 'type': the next byte starts a packet; 'length': inside its remaining length; 'body': in its body. */
  private state: 'type' | 'length' | 'body' = 'type';
  /** The fixed header read so far: the first byte and up to four of remaining length. */
  private readonly header = Buffer.alloc(1 + MAX_LENGTH_BYTES);
  private headerBytes = 0;
  private length = 0;
  private multiplier = 1;
  private remaining = 0;
  private dropping = false;

  constructor(private readonly judge: PacketJudge) {}

  /**
   * The bytes of `chunk` to hand on, packets left out removed (the chunk itself when nothing was
   * left out), or 'close' once a packet's verdict was to close the connection. With `maxPackets`,
   * it stops after that many kept packets, at a packet boundary, and returns the bytes after it as
   * `rest`, for the caller to put back and hand on later.
   */
  filter(chunk: Buffer, maxPackets = Number.POSITIVE_INFINITY): { kept: Buffer; rest?: Buffer } | 'close' {
    // Runs of kept bytes: the chunk is handed on whole unless a packet was left out, or a header
    // is cut by the chunk's end (its bytes are handed on with the rest of it, next time).
    const kept: Buffer[] = [];
    let changed = this.state === 'length' || (this.state === 'body' && this.dropping);
    let runStart = this.state === 'body' && !this.dropping ? 0 : -1;
    /** Where the packet being read began in this chunk; -1 when it began in an earlier one. */
    let packetStart = -1;
    let keptPackets = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, chunk.length - i);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i]!;
      if (this.state === 'type') {
        if (keptPackets >= maxPackets) {
          if (!changed) return { kept: chunk.subarray(0, i), rest: chunk.subarray(i) };
          if (runStart >= 0 && i > runStart) kept.push(chunk.subarray(runStart, i));
          return { kept: Buffer.concat(kept), rest: chunk.subarray(i) };
        }
        packetStart = i;
        this.header[0] = byte;
        this.headerBytes = 1;
        this.length = 0;
        this.multiplier = 1;
        this.state = 'length';
        i++;
        continue;
      }
      // Inside the remaining length, 7 bits a byte, least significant first.
      this.header[this.headerBytes++] = byte;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      i++;
      // A malformed length (more than 4 bytes) is the parser's to refuse: pass it on.
      if ((byte & 0x80) !== 0 && this.headerBytes - 1 < MAX_LENGTH_BYTES) continue;
      const verdict = this.judge(this.header[0]!, this.length);
      if (verdict === 'close') return 'close';
      this.dropping = verdict === 'drop';
      if (this.dropping) {
        // The run ends where this packet began.
        changed = true;
        if (runStart >= 0 && packetStart > runStart) kept.push(chunk.subarray(runStart, packetStart));
        runStart = -1;
      } else {
        keptPackets++;
        if (runStart < 0 && packetStart >= 0) runStart = packetStart;
        else if (runStart < 0) {
          // Its header began in an earlier chunk, which did not hand those bytes on.
          kept.push(Buffer.from(this.header.subarray(0, this.headerBytes)));
          runStart = i;
        }
      }
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    // A header cut by the chunk's end is handed on once it is whole.
    const runEnd = this.state === 'length' ? packetStart : chunk.length;
    if (this.state === 'length') changed = true;
    if (!changed) return { kept: chunk };
    if (runStart >= 0 && runEnd > runStart) kept.push(chunk.subarray(runStart, runEnd));
    return { kept: Buffer.concat(kept) };
  }
}

/** Whether a packet's first byte is a PUBLISH. */
export function isPublish(firstByte: number): boolean {
  return firstByte >> 4 === 3;
}

/** Whether a packet's first byte is a PUBLISH at QoS 0. */
export function isQos0Publish(firstByte: number): boolean {
  return isPublish(firstByte) && ((firstByte >> 1) & 3) === 0;
}
