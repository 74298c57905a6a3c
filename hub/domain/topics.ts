// The MQTT topic contract: {prefix}/devices/{deviceId}/{telemetry|heartbeat|status}.

/** What a device topic can carry; serial frames arrive another way. */
export type TopicKind = 'telemetry' | 'heartbeat' | 'status';

export interface DeviceTopic {
  device: string;
  kind: TopicKind;
}

const KINDS = new Set<string>(['telemetry', 'heartbeat', 'status']);
const DEVICES = '/devices/';

/** The device and kind a topic addresses; undefined for topics that carry no device data. */
export function parseDeviceTopic(prefix: string, topic: string): DeviceTopic | undefined {
  // Every message's topic comes through here: found by position rather than split into levels.
  if (!topic.startsWith(prefix) || !topic.startsWith(DEVICES, prefix.length)) return undefined;
  const start = prefix.length + DEVICES.length;
  const slash = topic.indexOf('/', start);
  if (slash < 0 || topic.indexOf('/', slash + 1) >= 0) return undefined;
  const kind = topic.slice(slash + 1);
  if (!KINDS.has(kind)) return undefined;
  return { device: topic.slice(start, slash), kind: kind as TopicKind };
}

export const topics = {
  hubStatus: (prefix: string) => `${prefix}/hub/status`,
  /** The configuration the hub runs on, after each reload. */
  hubConfig: (prefix: string) => `${prefix}/hub/config`,
  gatewayStatus: (prefix: string, gateway: string) => `${prefix}/gateways/${gateway}/status`,
  device: (prefix: string, device: string, kind: TopicKind) => `${prefix}/devices/${device}/${kind}`,
};
