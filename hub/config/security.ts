// The `security` section: who may connect without credentials, encrypted connections, and the
// lock-out after wrong passwords.
import { z } from 'zod';
import { duration, flag, integer, port, topicFilter } from './fields.ts';

const verdict = z.enum(['allow', 'deny'], { error: 'must be "allow" or "deny"' });

const topicRule = z
  .strictObject({
    topic: topicFilter,
    publish: verdict.optional(),
    subscribe: verdict.optional(),
    who: z
      .enum(['anonymous', 'device', 'viewer', 'operator', 'admin'], {
        error: 'must be one of "anonymous", "device", "viewer", "operator", "admin" (or left out: everyone)',
      })
      .optional(),
  })
  .refine((r) => r.publish !== undefined || r.subscribe !== undefined, {
    error: 'says neither publish nor subscribe: give one or both, "allow" or "deny"',
  });

export const securitySection = z
  .strictObject({
    /** true: clients without credentials are accepted from any address; warned at every start. */
    allow_anonymous: flag.default(false),
    /** true: encrypted connections only: the plain MQTT port is not opened (MQTTS and wss:// stay). Needs tls. */
    require_tls: flag.default(false),
    /** MQTTS and HTTPS from PEM files; relative paths resolve like data_dir. */
    tls: z
      .strictObject({
        cert: z.string().min(1),
        key: z.string().min(1),
        /** Device certificates signed by this CA log in as the device named by their CN. */
        ca: z.string().min(1).optional(),
        mqtt_port: port.default(8883),
      })
      .optional(),
    /**
     * Wrong passwords from one address (an IPv6 /64 counts as one): after `max` within `within`,
     * every login from there is refused for `lockout`, before any password is checked.
     */
    login_failures: z
      .strictObject({
        max: integer(1, 1000).default(5),
        within: duration.default('5m'),
        lockout: duration.default('5m'),
        /** Addresses remembered at once; beyond it the longest-quiet one is forgotten. */
        tracked_addresses: integer(100, 10_000_000).default(10_000),
      })
      .prefault({}),
    /**
     * The site's own topic rules, checked in order before the built-in ACL; the first that matches
     * the topic, the client and the action decides (see security/topic-rules.ts).
     */
    topic_rules: z.array(topicRule).max(1000).default([]),
  })
  .prefault({});

/** What the fields cannot say alone: require_tls needs tls, or the hub has no MQTT port to open. */
export function checkSecurity(security: z.output<typeof securitySection>, ctx: z.core.$RefinementCtx): void {
  if (security.require_tls && !security.tls) {
    ctx.addIssue({
      code: 'custom',
      path: ['security', 'require_tls'],
      message:
        'needs security.tls (cert and key): without TLS the hub would have no MQTT port to open; configure security.tls, or set require_tls to false',
      input: security.require_tls,
    });
  }
}
