// What admission control (admission.ts) is doing, as health reports it.

export interface AdmissionStatus {
  pendingBytes: number;
  peakPendingBytes: number;
  delayMs: number;
  overloaded: boolean;
  /** QoS 0 messages a second each client may send while shedding; absent while not. */
  sharePerSecond?: number;
  shed: number;
  pauses: number;
  pausedClients: number;
  pausedForMs: number;
  /** How long the client waiting longest for its turn to be read (read-turns.ts) has waited, ms. */
  readWaitMs: number;
  /** How far the rules are behind the journal (0 while they are stuck rather than slow), ms. */
  rulesBehindMs: number;
  /** The rules' limit behind the journal: past it the hub is overloaded, past twice it publishers wait. */
  maxRulesBehindMs: number;
}

/** What admission is doing, for the health report; undefined while the hub keeps up. */
export function describeAdmission(status: AdmissionStatus): string | undefined {
  const parts = [
    status.sharePerSecond !== undefined &&
      `overloaded: QoS 0 messages past ${status.sharePerSecond}/s per client are being shed (${status.shed} since start, floorwatch_mqtt_shed_total)`,
    status.pausedClients > 0 &&
      `reading from ${status.pausedClients} publishing clients paused for ${Math.round(status.pausedForMs)} ms until ${
        status.rulesBehindMs > 2 * status.maxRulesBehindMs
          ? `the rules, ${Math.round(status.rulesBehindMs)} ms behind the journal, catch up (rules.max_behind)`
          : `what was read is journaled (limits.max_pending_bytes)`
      }`,
  ].filter((part) => part !== false);
  return parts.length === 0 ? undefined : parts.join('; ');
}
