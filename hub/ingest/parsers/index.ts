// Payload → Parsed, by message kind. A new payload format is one more parser file here.
import { Rejection } from '../rejection.ts';
import { parseFrame } from './frame.ts';
import { parseHeartbeat } from './heartbeat.ts';
import { parseJson, parseJsonTelemetry } from './json.ts';
import type { Parsed } from './parsed.ts';
import { parseSenml } from './senml.ts';

/** 'frame' is one serial gateway frame whose envelope the serial source has checked. */
export type MessageKind = 'telemetry' | 'heartbeat' | 'status' | 'frame';
export type { Parsed, ParsedHeartbeat, ParsedValue } from './parsed.ts';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `now` is the receive time in ms; SenML's relative times are anchored to it. */
export function parsePayload(kind: MessageKind, payload: Buffer, now: number): Parsed {
  if (kind === 'status') {
    const text = payload.toString('utf8').trim();
    if (text !== 'online' && text !== 'offline') {
      throw new Rejection(
        'invalid_payload',
        `status must be "online" or "offline", found ${JSON.stringify(text.slice(0, 40))}`,
      );
    }
    return { kind: 'status', status: text };
  }
  if (kind === 'frame') return parseFrame(payload.toString('latin1'));
  const doc = parseJson(payload);
  if (kind === 'heartbeat') {
    if (!isObject(doc)) throw new Rejection('invalid_payload', 'heartbeat must be a JSON object');
    return { kind: 'heartbeat', heartbeat: parseHeartbeat(doc) };
  }
  if (Array.isArray(doc)) return { kind: 'telemetry', values: parseSenml(doc, now) };
  if (isObject(doc)) return { kind: 'telemetry', values: parseJsonTelemetry(doc) };
  throw new Rejection('invalid_payload', 'telemetry must be a JSON object or a SenML array');
}
