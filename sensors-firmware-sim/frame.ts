// The gateway side of the serial frame format (see the hub's hub/ingest/parsers/frame.ts, which
// decodes it): one function per frame type, each returning the whole line with checksum and \r\n.
import { frameChecksum } from '../hub/domain/frame.ts';

/** `$` + fields joined by commas + `*HH\r\n`. Fields are written as given: no escaping exists. */
export function encodeFrame(fields: ReadonlyArray<string | number>): string {
  const body = fields.join(',');
  return `$${body}*${frameChecksum(body)}\r\n`;
}

export interface ReadingFrame {
  device: string;
  metric: string;
  value: number;
  ts?: number;
  seq?: number;
}

export function readingFrame({ device, metric, value, ts, seq }: ReadingFrame): string {
  const fields: Array<string | number> = ['FWR', device, metric, value];
  // ts_ms and seq are positional: a seq without a ts leaves the ts field empty.
  if (ts !== undefined || seq !== undefined) fields.push(ts ?? '');
  if (seq !== undefined) fields.push(seq);
  return encodeFrame(fields);
}

export interface HeartbeatFrame {
  device: string;
  kind: string;
  status: string;
  components?: Record<string, { state: string; code?: string }>;
}

export function heartbeatFrame({ device, kind, status, components = {} }: HeartbeatFrame): string {
  const parts = Object.entries(components).map(
    ([name, c]) => `${name}=${c.state}${c.code !== undefined ? `:${c.code}` : ''}`,
  );
  return encodeFrame(['FWH', device, kind, status, ...parts]);
}

export function gatewayFrame({ gateway, uptimeS }: { gateway: string; uptimeS: number }): string {
  return encodeFrame(['FWG', gateway, Math.floor(uptimeS)]);
}
