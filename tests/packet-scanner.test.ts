// The packet scanner as pure logic: whatever the chunking of a stream of MQTT packets, what it
// hands on is exactly the packets it was told to keep, byte for byte, in order; bytes it hands
// back (a read cut short) come out right when read again; an oversized packet closes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isQos0Publish, PacketScanner } from '../hub/security/packet-scanner.ts';
import { publishPacket } from './support/mqtt.ts';

const packetArb = fc.record({
  qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
  topic: fc.string({ minLength: 1, maxLength: 30 }).filter((t) => !t.includes('+') && !t.includes('#')),
  // Up to 20 KB: lengths of one, two and three bytes.
  payload: fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ minLength: 200, maxLength: 400 }),
    fc.constant('x'.repeat(20_000)),
  ),
});

/** Splits `bytes` at the given cut points (sorted, deduplicated). */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return out;
}

describe('packet scanner', () => {
  it('hands on exactly the packets it keeps, whatever the chunks and however often a read is cut short', () => {
    fc.assert(
      fc.property(
        fc.array(packetArb, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 5 }),
        (specs, cuts, maxPackets) => {
          const packets = specs.map((p, i) => publishPacket({ ...p, id: i + 1 }));
          const keep = specs.map((p) => p.qos !== 0);
          let judged = 0;
          const scanner = new PacketScanner((first) => {
            judged++;
            return isQos0Publish(first) ? 'drop' : 'keep';
          });
          const out: Buffer[] = [];
          // A read hands on at most maxPackets and puts the rest back: the rest is read next.
          const queue = chunks(Buffer.concat(packets), cuts);
          while (queue.length > 0) {
            const passed = scanner.filter(queue.shift()!, maxPackets);
            if (passed === 'close') throw new Error('closed');
            out.push(passed.kept);
            if (passed.rest) queue.unshift(passed.rest);
          }
          // Compared as hex: a deep comparison of 100 KB buffers byte by byte takes most of a second.
          expect(Buffer.concat(out).toString('hex')).toBe(
            Buffer.concat(packets.filter((_, i) => keep[i])).toString('hex'),
          );
          expect(judged).toBe(packets.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('closes on a packet announced above the limit, before its body has arrived', () => {
    const scanner = new PacketScanner((_first, length) => (length > 1000 ? 'close' : 'keep'));
    const big = publishPacket({ topic: 't', payload: 'x'.repeat(5000), qos: 0 });
    expect(scanner.filter(big.subarray(0, 4))).toBe('close');
  });
});
