// The serial gateway frame's checksum, shared by the hub that checks it and the firmware that
// writes it (the frame format is described in ingest/parsers/frame.ts).

/** XOR of the bytes between '$' and '*', as two upper-case hex digits. */
export function frameChecksum(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i) & 0xff;
  return sum.toString(16).toUpperCase().padStart(2, '0');
}
