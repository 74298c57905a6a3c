// The site and what is on it: the `site` section, the zones, the devices and the serial ports with
// gateways on them, and the checks that tie these lists together (each id once, every zone named
// exists, the device limit covers the devices named).
import { z } from 'zod';
import { DEVICE_KINDS, MAX_CALIBRATION_OFFSET as MAX_OFFSET, METRIC_PATTERN } from '../domain/reading.ts';
import { ZONE_TYPES } from '../domain/zone.ts';
import { daysOf, rangeOf } from '../domain/hours.ts';
import { ruleOverridesSchema } from './alerting.ts';
import { duration, flag, id, integer, listedOnce, notListed } from './fields.ts';

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const hourRange = z.string().refine((v) => rangeOf(v) !== undefined, {
  error: 'must be opening hours such as "08:00-20:00" ("22:00-06:00" crosses midnight; "24:00" ends a day)',
});

/** Opening hours per weekday: { mon-fri: "08:00-20:00", sat: ["09:00-12:00", "13:00-17:00"] }. */
export const hoursSchema = z
  .record(z.string(), z.union([hourRange, z.array(hourRange).min(1).max(10)]))
  .superRefine((hours, ctx) => {
    const specs = Object.keys(hours);
    if (specs.length > 14) ctx.addIssue({ code: 'custom', message: 'lists at most 14 day specs', input: hours });
    for (const spec of specs)
      if (daysOf(spec) === undefined)
        ctx.addIssue({
          code: 'custom',
          path: [spec],
          message: 'must be a day (mon … sun), a run of days (mon-fri, sat-sun) or daily',
          input: spec,
        });
  });

const isoDate = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, {
  error: 'must be a date such as "2026-12-25"',
});

export const siteSection = z
  .strictObject({
    name: z.string().max(200).default('floorwatch'),
    /** Which comfort bands apply; calendar: winter Nov–Mar, summer Jun–Aug, transition between. */
    season: z.enum(['winter', 'summer', 'transition', 'calendar']).default('calendar'),
    /** The site's time zone (IANA, e.g. Europe/London): times in notices, schedules and windows. */
    timezone: z
      .string()
      .refine(validTimeZone, { error: 'must be an IANA time zone such as "Europe/London" or "Asia/Shanghai"' })
      .default(() => Intl.DateTimeFormat().resolvedOptions().timeZone),
    /** Opening hours of every zone that has none of its own; none: always occupied. */
    hours: hoursSchema.optional(),
    /** Public holidays: closed all day, whatever the hours say. */
    holidays: z.array(isoDate).max(1000).default([]),
    /** An iCalendar file (.ics) of public holidays, read at start, in addition to `holidays`. */
    holiday_calendar: z.string().min(1).optional(),
    /** Comfort requirements are judged from this long after opening: the HVAC's time to bring the room into its band. */
    warm_up: duration.default('15m'),
  })
  .prefault({});

export const zoneSchema = z.strictObject({
  id,
  name: z.string().max(200).optional(),
  type: z.enum(ZONE_TYPES).default('call_floor'),
  /** This zone's own changes to the requirements, on top of the site's. */
  rules: ruleOverridesSchema.optional(),
  /** This zone's opening hours, instead of the site's (e.g. a 24/7 desk: { daily: "00:00-24:00" }). */
  hours: hoursSchema.optional(),
});

export const deviceSchema = z.strictObject({
  id,
  kind: z.enum(DEVICE_KINDS),
  zone: id.optional(),
  /** How often the device reports; the liveness rules derive their timeouts from it. */
  heartbeat_interval: duration.default('60s'),
  /** Battery devices report rarely: critical only after 25 h of silence. */
  battery: flag.default(false),
  /** The gateway it reports through: while that is down, this device's offline alert is held. */
  gateway: id.optional(),
  /** The seat, desk or rack it serves, as the site names it. */
  position: id.optional(),
  /**
   * Offsets added to what the sensor reports, per metric, in the metric's unit (°C, dB, ppm…), as
   * found against a reference instrument; the value as reported is kept beside.
   */
  calibration: z
    .record(
      z.string().regex(METRIC_PATTERN, { error: 'must be a metric name such as temperature or noise_db' }),
      z
        .number({ error: 'must be a number in the metric’s unit, such as -0.4' })
        .min(-MAX_OFFSET, { error: `must be from -${MAX_OFFSET} to ${MAX_OFFSET}` })
        .max(MAX_OFFSET, { error: `must be from -${MAX_OFFSET} to ${MAX_OFFSET}` }),
    )
    .optional(),
});

/** A serial port with an RS-485 gateway on it, and the zone of each sensor behind the gateway. */
export const serialPortSchema = z.strictObject({
  path: z.string().min(1),
  baud_rate: integer(50, 4_000_000).default(9600),
  gateway: id,
  /** The zone the gateway's own alerts belong to; default: the zone of the devices behind it, when they share one. */
  zone: id.optional(),
  /** How often the gateway sends $FWG; after 3 intervals without any frame it is offline. */
  alive_interval: duration.default('10s'),
  devices: z
    .record(id, id, {
      error: 'device ids must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    })
    .default({}),
});

export type ZoneConfig = z.output<typeof zoneSchema>;
export type DeviceConfig = z.output<typeof deviceSchema>;
export type SerialPortConfig = z.output<typeof serialPortSchema>;

/** The lists a site names, and the limit on devices they must fit under. */
export interface SiteLists {
  zones: ZoneConfig[];
  devices: DeviceConfig[];
  serial: SerialPortConfig[];
  limits: { max_devices: number };
}

/** Zone names the hub gives its own alerts and devices outside every zone, in alerts and the store. */
const RESERVED_ZONES = new Map([
  ['unassigned', 'devices not in a zone'],
  ['hub', "the hub's own alerts"],
]);

/** What the fields cannot say alone: ids listed once, zones that exist, a device limit that fits. */
export function checkSite(cfg: SiteLists, ctx: z.core.$RefinementCtx): void {
  cfg.zones.forEach((zone, i) => {
    const reserved = RESERVED_ZONES.get(zone.id);
    if (reserved !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['zones', i, 'id'],
        message: `zone id "${zone.id}" is taken: alerts and the store use it for ${reserved}; choose another id`,
        input: zone.id,
      });
  });
  const zoneIds = listedOnce(
    cfg.zones.map((z) => z.id),
    'zone',
    (i) => ['zones', i, 'id'],
    ctx,
  );
  listedOnce(
    cfg.devices.map((d) => d.id),
    'device',
    (i) => ['devices', i, 'id'],
    ctx,
  );
  cfg.devices.forEach((device, i) => {
    if (device.zone !== undefined && !zoneIds.has(device.zone))
      ctx.addIssue({
        code: 'custom',
        path: ['devices', i, 'zone'],
        message: notListed('zone', device.zone, 'zones', zoneIds),
        input: device.zone,
      });
  });
  const configured = new Set([
    ...cfg.devices.map((d) => d.id),
    ...cfg.serial.flatMap((p) => [p.gateway, ...Object.keys(p.devices)]),
  ]);
  if (configured.size > cfg.limits.max_devices) {
    ctx.addIssue({
      code: 'custom',
      path: ['limits', 'max_devices'],
      message: `is below the ${configured.size} devices and gateways the configuration names (under devices and serial): raise it to at least ${configured.size}`,
      input: cfg.limits.max_devices,
    });
  }
  const portOf = new Map<string, string>();
  cfg.serial.forEach((port, i) => {
    if (cfg.serial.findIndex((p) => p.path === port.path) < i)
      ctx.addIssue({
        code: 'custom',
        path: ['serial', i, 'path'],
        message: `port ${port.path} is listed twice`,
        input: port.path,
      });
    if (cfg.serial.findIndex((p) => p.gateway === port.gateway) < i)
      ctx.addIssue({
        code: 'custom',
        path: ['serial', i, 'gateway'],
        message: `gateway "${port.gateway}" is listed on two ports`,
        input: port.gateway,
      });
    if (port.zone !== undefined && !zoneIds.has(port.zone))
      ctx.addIssue({
        code: 'custom',
        path: ['serial', i, 'zone'],
        message: `names zone "${port.zone}", which is not under zones (known: ${[...zoneIds].join(', ') || 'none'})`,
        input: port.zone,
      });
    for (const [device, zone] of Object.entries(port.devices)) {
      if (!zoneIds.has(zone)) {
        ctx.addIssue({
          code: 'custom',
          path: ['serial', i, 'devices', device],
          message: `names zone "${zone}", which is not under zones (known: ${[...zoneIds].join(', ') || 'none'})`,
          input: zone,
        });
      }
      const other = portOf.get(device);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['serial', i, 'devices', device],
          message: `device "${device}" is already behind the gateway on ${other}`,
          input: device,
        });
      portOf.set(device, port.path);
    }
  });
}
