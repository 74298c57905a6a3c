// The MQTT topic contract: {prefix}/devices/{deviceId}/{telemetry|heartbeat|status}.

/** What a device topic can carry; serial frames arrive another way. */
export type TopicKind = 'telemetry' | 'heartbeat' | 'status';

export interface DeviceTopic {
  device: string;
  kind: TopicKind;
}

const KINDS = new Set<string>(['telemetry', 'heartbeat', 'status']);

/** The device and kind a topic addresses; undefined for topics that carry no device data. */
export function parseDeviceTopic(prefix: string, topic: string): DeviceTopic | undefined {
  const levels = topic.split('/');
  if (levels.length !== 4 || levels[0] !== prefix || levels[1] !== 'devices') return undefined;
  const [, , device, kind] = levels;
  if (device === undefined || kind === undefined || !KINDS.has(kind)) return undefined;
  return { device, kind: kind as TopicKind };
}

export const topics = {
  hubStatus: (prefix: string) => `${prefix}/hub/status`,
  /** The configuration the hub runs on, after each reload. */
  hubConfig: (prefix: string) => `${prefix}/hub/config`,
  gatewayStatus: (prefix: string, gateway: string) => `${prefix}/gateways/${gateway}/status`,
  device: (prefix: string, device: string, kind: TopicKind) => `${prefix}/devices/${device}/${kind}`,
};
