// Serial gateway frames, NMEA-0183 style: ASCII lines ending in \r\n, an XOR checksum of the
// bytes between '$' and '*' as two hex digits.
//   $FWR,{deviceId},{metric},{value}[,{ts_ms}][,{seq}]*HH                    a reading
//   $FWH,{deviceId},{kind},{status}[,{component}={state}[:{code}]…]*HH      a heartbeat
//   $FWG,{gatewayId},{uptime_s}*HH                                          the gateway is alive
// Three layers, each for the layer of the serial source that needs it: FrameSplitter finds
// frames in a byte stream, openFrame checks one frame's envelope (checksum, type, id), and
// parseFrame turns its fields into what ingest validates like any other payload.
import { frameChecksum } from '../../domain/frame.ts';
import { Rejection } from '../rejection.ts';
import { parseHeartbeat } from './heartbeat.ts';
import { optionalSeq, optionalTimestamp } from './json.ts';
import type { Parsed } from './parsed.ts';

export const FRAME_TAGS = ['FWR', 'FWH', 'FWG'] as const;
export type FrameTag = (typeof FRAME_TAGS)[number];

/** Longest line accepted, '$' to '\r'; real frames are far shorter, and this bounds memory. */
export const MAX_FRAME_BYTES = 256;

const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;

/** Bytes on the line that were not a whole frame: junk between frames, a cut-off frame, an overlong one. */
export type LineNoise = 'garbage' | 'too_long';

export interface FrameSplitterOptions {
  /** A whole frame, '$' up to the checksum, without the line ending. */
  onFrame: (frame: string) => void;
  onNoise: (noise: LineNoise, bytes: number) => void;
  maxBytes?: number;
}

/**
 * Reassembles frames from reads of any size. Anything that is not a frame is reported as noise
 * and skipped; a '$' always starts a new frame, so one lost line ending costs one frame, not two.
 * Memory is bounded by maxBytes whatever arrives.
 */
export class FrameSplitter {
  private readonly frame: Buffer;
  private length = 0;
  /** Inside a frame (after its '$'); otherwise between frames. */
  private inFrame = false;
  /** After an overlong frame: the rest of its line is dropped without counting it again. */
  private skipping = false;
  private junk = 0;

  constructor(private readonly options: FrameSplitterOptions) {
    this.frame = Buffer.alloc(options.maxBytes ?? MAX_FRAME_BYTES);
  }

  push(chunk: Buffer): void {
    for (const byte of chunk) {
      if (byte === DOLLAR) {
        this.endJunk();
        if (this.inFrame) this.options.onNoise('garbage', this.length);
        this.skipping = false;
        this.inFrame = true;
        this.frame[0] = byte;
        this.length = 1;
      } else if (this.inFrame) {
        if (byte === LF) {
          // A lone \n ends a frame too: the checksum still decides whether it is whole.
          const end = this.frame[this.length - 1] === CR ? this.length - 1 : this.length;
          this.inFrame = false;
          this.options.onFrame(this.frame.toString('latin1', 0, end));
        } else if (this.length === this.frame.length) {
          this.inFrame = false;
          this.skipping = true;
          this.options.onNoise('too_long', this.length);
        } else {
          this.frame[this.length++] = byte;
        }
      } else if (this.skipping) {
        if (byte === LF) this.skipping = false;
      } else if (byte !== CR && byte !== LF) {
        this.junk++;
      }
    }
  }

  /** Drops a frame cut off by the port closing; it is counted as garbage. */
  reset(): void {
    this.endJunk();
    if (this.inFrame) this.options.onNoise('garbage', this.length);
    this.inFrame = false;
    this.skipping = false;
  }

  private endJunk(): void {
    if (this.junk > 0) this.options.onNoise('garbage', this.junk);
    this.junk = 0;
  }
}

export type OpenedFrame =
  { ok: true; tag: FrameTag; id: string } | { ok: false; problem: 'bad_checksum' | 'garbage'; detail: string };

/** Checks a frame's envelope: '$', a known type, an id field and the right checksum. */
export function openFrame(frame: string): OpenedFrame {
  const star = frame.length - 3;
  if (!frame.startsWith('$') || frame[star] !== '*' || !/^[0-9A-Fa-f]{2}$/.test(frame.slice(star + 1))) {
    return { ok: false, problem: 'garbage', detail: 'not a frame: it must be $…*HH' };
  }
  const body = frame.slice(1, star);
  const expected = frameChecksum(body);
  const found = frame.slice(star + 1).toUpperCase();
  if (found !== expected)
    return { ok: false, problem: 'bad_checksum', detail: `checksum ${found}, computed ${expected}` };
  const [tag, id] = body.split(',', 2);
  if (!(FRAME_TAGS as readonly string[]).includes(tag ?? '') || id === undefined) {
    return {
      ok: false,
      problem: 'garbage',
      detail: `unknown frame type ${JSON.stringify(tag?.slice(0, 8))} (known: ${FRAME_TAGS.join(', ')})`,
    };
  }
  return { ok: true, tag: tag as FrameTag, id };
}

function integerField(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,16}$/.test(text))
    throw new Rejection(
      'invalid_payload',
      `frame field ${name} must be a whole number, found ${JSON.stringify(text.slice(0, 40))}`,
    );
  return Number(text);
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * The fields of a frame whose envelope openFrame accepted. The id field is not returned: the
 * serial source hands it to ingest as the message's device, where every source's ids are checked.
 */
export function parseFrame(frame: string): Parsed {
  const fields = frame.slice(1, frame.lastIndexOf('*')).split(',');
  const [tag, , ...rest] = fields;
  if (tag === 'FWR') {
    const [metric, value, ts, seq, ...extra] = rest;
    if (metric === undefined || value === undefined || extra.length > 0) {
      throw new Rejection(
        'invalid_payload',
        `reading frame has ${fields.length} fields; expected $FWR,device,metric,value[,ts_ms][,seq]`,
      );
    }
    const tsMs = optionalTimestamp(integerField(ts, 'ts_ms'), 'ts_ms');
    const seqNo = optionalSeq(integerField(seq, 'seq'));
    // Not-a-number text goes on to ingest, which refuses it as invalid_value like any other source.
    return {
      kind: 'telemetry',
      values: [
        {
          metric,
          value: NUMBER.test(value) ? Number(value) : value,
          ...(tsMs !== undefined && { ts: tsMs }),
          ...(seqNo !== undefined && { seq: seqNo }),
        },
      ],
    };
  }
  if (tag === 'FWH') {
    const [kind, status, ...parts] = rest;
    if (kind === undefined || status === undefined) {
      throw new Rejection('invalid_payload', 'heartbeat frame needs $FWH,device,kind,status[,component=state:code…]');
    }
    // A Map, then own properties: a component named "__proto__" must be refused by its name, not
    // vanish into the object's prototype.
    const components = new Map<string, { state: string; code?: string }>();
    for (const part of parts) {
      const match = /^([^=]*)=([^:]*)(?::(.*))?$/.exec(part);
      if (!match)
        throw new Rejection(
          'invalid_payload',
          `heartbeat frame component ${JSON.stringify(part.slice(0, 40))} must be name=state:code`,
        );
      const [, name = '', state = '', code] = match;
      if (components.has(name))
        throw new Rejection('invalid_payload', `heartbeat frame names component "${name.slice(0, 40)}" twice`);
      components.set(name, { state, ...(code !== undefined && { code }) });
    }
    return {
      kind: 'heartbeat',
      heartbeat: parseHeartbeat({ kind, status, components: Object.fromEntries(components) }),
    };
  }
  if (tag === 'FWG') {
    const [uptime, ...extra] = rest;
    if (extra.length > 0)
      throw new Rejection(
        'invalid_payload',
        `gateway frame has ${fields.length} fields; expected $FWG,gateway,uptime_s`,
      );
    const uptimeS = integerField(uptime, 'uptime_s');
    return {
      kind: 'heartbeat',
      heartbeat: parseHeartbeat({ kind: 'gateway', status: 'ok', ...(uptimeS !== undefined && { uptime_s: uptimeS }) }),
    };
  }
  throw new Rejection(
    'invalid_payload',
    `unknown frame type ${JSON.stringify(tag?.slice(0, 8))} (known: ${FRAME_TAGS.join(', ')})`,
  );
}
