// The `http` and `mqtt` sections: the ports the hub listens on, the web pages that may use it from
// a browser, and the topic level its MQTT contract lives under.
import { z } from 'zod';
import { flag, origin, port } from './fields.ts';

export const httpSection = z
  .strictObject({
    port: port.default(8080),
    /** Web pages, besides the hub's own, that may use it from a browser (/mqtt, the live feed, the API); a list, or comma-separated from an environment variable. */
    allowed_origins: z
      .union(
        [
          z.array(z.string()),
          z.string().transform((v) =>
            v
              .split(',')
              .map((o) => o.trim())
              .filter((o) => o !== ''),
          ),
        ],
        { error: 'must be a list of origins such as "https://grafana.example.com:3000"' },
      )
      .pipe(z.array(origin))
      .default([]),
  })
  .prefault({});

export const mqttSection = z
  .strictObject({
    port: port.default(1883),
    topic_prefix: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, {
        error: 'must be one topic level of letters, digits, "_" or "-"',
      })
      .default('floorwatch'),
    /** Home Assistant MQTT discovery on the hub's own broker: each zone as a device, retained. */
    home_assistant_discovery: flag.default(false),
  })
  .prefault({});
