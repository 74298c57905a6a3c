// The `security` section: who may connect without credentials, encrypted connections, and the
// lock-out after wrong passwords.
import { z } from 'zod';
import { duration, flag, integer, port } from './fields.ts';

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
