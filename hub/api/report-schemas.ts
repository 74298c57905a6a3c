// What the shift handover and the equipment record answer in JSON (reports/shift.ts,
// reports/equipment.ts).
import { z } from 'zod';
import type { EquipmentReport } from '../reports/equipment.ts';
import type { ShiftReport } from '../reports/shift.ts';
import { severity, zoneType } from './rule-schemas.ts';
import { schemaOf } from './schemas.ts';
import { SEASONS } from '../domain/zone.ts';

const spread = z.object({ min: z.number(), mean: z.number(), max: z.number() });

export const shiftReportSchema = schemaOf<ShiftReport>()(
  z.object({
    from: z.number(),
    to: z.number(),
    season: z.enum(SEASONS),
    zones: z.array(
      z.object({
        zone: z.string(),
        name: z.string().optional(),
        type: zoneType,
        temperature: spread.optional(),
        humidity: spread.optional(),
        co2MaxHourlyMean: z
          .object({ value: z.number(), hour: z.number().describe('the clock hour it started, ms since 1970') })
          .optional()
          .describe('the highest 1-hour mean'),
        openPercent: z.number().describe('how much of the span the zone was open by its hours'),
        occupancyAtEnd: z.enum(['occupied', 'unoccupied']).describe('open or closed at the end of the span'),
        compliance: z.array(
          z.object({
            requirement: z.string(),
            metric: z.string(),
            title: z.string(),
            percentWithin: z
              .number()
              .describe("percent of the zone's readings at which no limit of the requirement was crossed"),
            readings: z.number(),
          }),
        ),
      }),
    ),
    positions: z
      .array(
        z.object({
          device: z.string(),
          zone: z.string(),
          laeq: z.number().describe('energy average over the span, dB(A)'),
          lex8h: z.number(),
          dosePercent: z.number(),
        }),
      )
      .describe('noise per position'),
    alerts: z.object({
      fired: z.number(),
      acknowledged: z.number(),
      open: z.number(),
      list: z.array(
        z.object({
          alertId: z.number(),
          key: z.string(),
          rule: z.string(),
          subject: z.string(),
          zone: z.string(),
          severity: severity.describe('the highest it reached'),
          summary: z.string(),
          code: z.string().optional().describe("an equipment fault's own code, as the device reported it"),
          value: z.number().optional().describe('the value that fired it'),
          firingAt: z.number(),
          acknowledgedAt: z.number().optional(),
          resolvedAt: z.number().optional(),
          durationMs: z.number().describe('from firing to resolution, or to the end of the span while still open'),
          open: z.boolean(),
        }),
      ),
    }),
    offline: z.array(
      z.object({
        device: z.string(),
        zone: z.string(),
        since: z.number(),
        back: z.number().optional(),
        offlineMs: z.number(),
      }),
    ),
    acoustic: z
      .array(
        z.object({
          device: z.string().describe('the headset: the position'),
          zone: z.string(),
          at: z.number(),
          levelDb: z.number().nullable().describe('the peak, dB(C)'),
        }),
      )
      .describe('peaks at headsets at or above rules.acoustic_shock_level'),
    faults: z.array(
      z.object({
        device: z.string(),
        zone: z.string(),
        fault: z.string(),
        severity,
        since: z.number(),
        cleared: z.number().optional(),
        durationMs: z.number(),
      }),
    ),
    notes: z.array(z.string()),
  }),
);

const figures = {
  availabilityPercent: z.number(),
  downtimeMs: z.number(),
  incidents: z.number(),
  mttrMs: z
    .number()
    .nullable()
    .describe('mean time from firing to resolution of the incidents resolved within the span; null when none was'),
  faults: z.array(z.object({ fault: z.string(), count: z.number() })),
};

export const equipmentReportSchema = schemaOf<EquipmentReport>()(
  z.object({
    from: z.number(),
    to: z.number(),
    devices: z.array(
      z.object({
        device: z.string(),
        kind: z.string(),
        zone: z.string().nullable(),
        ...figures,
        battery: z.number().nullable().describe('battery %, from the last heartbeat that gave one'),
        rssi: z.number().nullable().describe('signal strength dBm, from the last heartbeat that gave one'),
        fw: z.string().nullable().describe('firmware version, from the last heartbeat that gave one'),
      }),
    ),
    kinds: z.array(z.object({ kind: z.string(), devices: z.number(), ...figures })),
    faults: z.array(z.object({ fault: z.string(), count: z.number() })).describe('most frequent first'),
    notes: z.array(z.string()),
  }),
);
