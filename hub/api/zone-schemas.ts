// What GET /api/v1/zones answers: the floor now, and each zone's compliance (zones.ts).
import { z } from 'zod';
import { severity, zoneType } from './rule-schemas.ts';
import { schemaOf } from './schemas.ts';
import type { ZoneStatus } from './zones.ts';
import { SEASONS } from '../domain/zone.ts';

const compliance = z.enum(['ok', 'warning', 'critical', 'no_data']);
const deviceCount = z.object({ total: z.number(), online: z.number() });

const zoneStatus = schemaOf<ZoneStatus>()(
  z.object({
    zone: z.string(),
    name: z.string().nullable(),
    type: zoneType,
    occupancy: z.enum(['occupied', 'unoccupied']).describe('open or closed now, by its opening hours'),
    compliance: compliance.describe('the worst of the requirements judged now'),
    latest: z
      .record(z.string(), z.object({ value: z.number(), ts: z.number(), device: z.string(), unit: z.string() }))
      .describe("the newest reading of each metric the zone's requirements watch, within the last 10 minutes"),
    requirements: z.array(
      z.object({
        key: z.string(),
        metric: z.string(),
        title: z.string(),
        unit: z.string(),
        value: z.number().nullable().describe('the value the deciding limit compared'),
        over: z.string().describe('over what, such as "highest in 10 min" or "LAeq over 15 min"'),
        compliance,
        breached: z
          .object({ severity, when: z.enum(['above', 'below']), threshold: z.number(), source: z.string() })
          .optional()
          .describe('the worst limit the value is past'),
      }),
    ),
    alerts: z.object({ firing: z.number(), critical: z.number() }),
    devices: deviceCount.describe('its devices, and how many are online'),
  }),
);

export const floorSchema = z
  .object({
    site: z.string(),
    season: z.enum(SEASONS),
    at: z.number().describe('the moment judged, ms since 1970'),
    devices: deviceCount.describe('every device, in a zone or not'),
    unzoned: deviceCount.describe('the devices in no zone (GET /api/v1/devices?unzoned=true lists them)'),
    zones: z.array(zoneStatus),
  })
  .describe('the floor now');
