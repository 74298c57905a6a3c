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
  private header: number[] = [];
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
    const kept: Buffer[] = [];
    let changed = this.state === 'length' || (this.state === 'body' && this.dropping);
    let runStart = this.state === 'body' && !this.dropping ? 0 : -1;
    let keptPackets = 0;
    let i = 0;
    const endRun = (at: number): void => {
      if (runStart >= 0 && at > runStart) kept.push(chunk.subarray(runStart, at));
      runStart = -1;
    };
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
        endRun(i);
        if (keptPackets >= maxPackets) {
          return { kept: changed ? Buffer.concat(kept) : chunk.subarray(0, i), rest: chunk.subarray(i) };
        }
        this.header = [byte];
        this.length = 0;
        this.multiplier = 1;
        this.state = 'length';
        i++;
        continue;
      }
      // Inside the remaining length, 7 bits a byte, least significant first.
      this.header.push(byte);
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      i++;
      // A malformed length (more than 4 bytes) is the parser's to refuse: pass it on.
      if ((byte & 0x80) !== 0 && this.header.length - 1 < MAX_LENGTH_BYTES) continue;
      const verdict = this.judge(this.header[0]!, this.length);
      if (verdict === 'close') return 'close';
      this.dropping = verdict === 'drop';
      if (this.dropping) {
        changed = true;
      } else {
        kept.push(Buffer.from(this.header));
        keptPackets++;
        runStart = i;
      }
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    if (this.state === 'length') changed = true;
    if (!changed) return { kept: chunk };
    endRun(chunk.length);
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
