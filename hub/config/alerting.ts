// The `rules` section: how the built-in requirements are changed for a site or a zone, and how
// alerts behave over time.
import { z } from 'zod';
import { APPLIES, REQUIREMENT_KEYS } from '../domain/requirement.ts';
import { decimal, duration, flag } from './fields.ts';

const bounds = z.strictObject({ above: decimal.optional(), below: decimal.optional() });

/** Changes to built-in requirements, by key (`npm run floorwatch -- rules` lists them). */
export const ruleOverridesSchema = z.partialRecord(
  z.enum(REQUIREMENT_KEYS),
  z.strictObject({
    enabled: flag.optional(),
    warning: bounds.optional(),
    critical: bounds.optional(),
    for: duration.optional(),
    hysteresis: decimal.pipe(z.number().min(0, { error: 'must be 0 or more' })).optional(),
    keep_firing_for: duration.optional(),
    /** When it is judged: occupied (the zone's opening hours), unoccupied, or always. */
    applies: z.enum(APPLIES).optional(),
  }),
);

export const rulesSection = z
  .strictObject({
    /** Changes to the built-in requirements for the whole site; a zone's `rules` go further. */
    overrides: ruleOverridesSchema.default({}),
    /** After a start, no device is declared offline before this: devices reconnect first. */
    startup_grace: duration.default('2m'),
    /** A critical alert not acknowledged this long is notified again, as escalated. */
    escalate_after: duration.default('15m'),
    /** Storage is reported down once its writes have failed this long. */
    storage_down_after: duration.default('1m'),
    /** A webhook, receiver or bridge is reported failing once deliveries to it have failed this long. */
    notify_failing_after: duration.default('10m'),
    /**
     * Alerts come first: while the rules are this far behind the journal, QoS 0 readings are
     * shed; at twice it, the hub stops reading from publishing clients until they catch up.
     */
    max_behind: duration.default('500ms'),
    /** The storage_rejecting alert resolves once the store has refused no reading for this long. */
    storage_rejecting_clears_after: duration.default('5m'),
    /**
     * A peak at a headset at or above this is an acoustic incident, alerted at once and recorded
     * (HSE call-centre guidance); headset limiters cap near 118 dB(C).
     */
    acoustic_shock_level: decimal.pipe(z.number().min(80).max(140)).default(105),
    /** Shift start times (local time of day): noise exposure is counted per shift. */
    shifts: z
      .array(z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time of day such as "06:00"' }))
      .min(1)
      .default(['06:00', '14:00', '22:00']),
  })
  .prefault({});
