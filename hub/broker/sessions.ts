// The clients for which the broker keeps a session between connections (MQTT clean session
// false): their subscriptions stay, and QoS 1/2 messages are kept for them while they are away
// (those bounded apart, in outgoing-queues.ts). Aedes keeps such a session until a client with the
// same id connects with a clean session, whether or not it ever comes back, so a client making up
// new ids would grow them without end. This holds their number to limits.max_persistent_sessions:
// a client asking for a new one past it is refused; one whose session is kept may always come back.
// It knows the sessions made on this hub since it started, as Aedes' own memory does (in a cluster,
// each hub counts the sessions made on it).

export class PersistentSessions {
  private readonly kept = new Set<string>();

  /** `limits` is read at every connection, so a reload's bound applies to the next. */
  constructor(private readonly limits: { readonly maxPersistentSessions: number }) {}

  /** Whether a client connecting with this clean-session flag may; notes what the broker will keep. */
  admit(clientId: string, clean: boolean): boolean {
    if (clean) {
      // A clean session ends the one kept for this id.
      this.kept.delete(clientId);
      return true;
    }
    if (this.kept.has(clientId)) return true;
    if (this.kept.size >= this.limits.maxPersistentSessions) return false;
    this.kept.add(clientId);
    return true;
  }

  get size(): number {
    return this.kept.size;
  }
}
