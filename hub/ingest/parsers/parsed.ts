// What a parser hands to ingest: values as found in the payload, not yet checked against the
// metric catalogue, the id grammar or the clock. Parsers know formats; ingest knows rules.
import type { ComponentHealth, DeviceKind, HealthStatus, Presence } from '../../domain/reading.ts';

export interface ParsedValue {
  /** Device named inside the payload (SenML names); the topic's device otherwise. */
  device?: string;
  metric: string;
  value: unknown;
  unit?: string;
  /** Device timestamp in ms since epoch, when the payload has one. */
  ts?: number;
  seq?: number;
}

export interface ParsedHeartbeat {
  ts?: number;
  kind?: DeviceKind;
  status: HealthStatus;
  components: Record<string, ComponentHealth>;
  uptimeS?: number;
  fw?: string;
  battery?: number;
  rssi?: number;
}

export type Parsed =
  | { kind: 'telemetry'; values: ParsedValue[] }
  | { kind: 'heartbeat'; heartbeat: ParsedHeartbeat }
  | { kind: 'status'; status: Presence };
