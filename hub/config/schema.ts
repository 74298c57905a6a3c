// The whole floorwatch.yaml, section by section in the order the file is read, and the checks
// across sections that run once every field is valid.
import { z } from 'zod';
import { rulesSection } from './alerting.ts';
import { checkNotify, notifySection } from './notify.ts';
import { bridgesSection } from './bridges.ts';
import { checkCluster, clusterSection } from './cluster.ts';
import { checkLayout, layoutSection } from './layout.ts';
import { integer } from './fields.ts';
import { limitsSection } from './limits.ts';
import { httpSection, mqttSection } from './listeners.ts';
import { ingestSection, storageSection } from './readings.ts';
import { checkSecurity, securitySection } from './security.ts';
import { checkSilences, silencesSection } from './silences.ts';
import { checkSite, deviceSchema, serialPortSchema, siteSection, zoneSchema } from './site.ts';

export const configSchema = z
  .strictObject({
    site: siteSection,
    bind: z.string().min(1).default('127.0.0.1'),
    http: httpSection,
    mqtt: mqttSection,
    data_dir: z.string().min(1).default('./data'),
    storage: storageSection,
    ingest: ingestSection,
    security: securitySection,
    limits: limitsSection,
    rules: rulesSection,
    notify: notifySection,
    cluster: clusterSection,
    bridges: bridgesSection,
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** auto: readable lines on a terminal, JSON lines otherwise (systemd, containers, files). */
    log_format: z.enum(['auto', 'text', 'json']).default('auto'),
    /**
     * Bytes of log lines waiting for standard output; past it lines are dropped (counted, and told
     * of once output moves), so a pipe whose reader stops reading never holds the hub or its memory.
     */
    log_max_waiting_bytes: integer(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
    zones: z.array(zoneSchema).default([]),
    devices: z.array(deviceSchema).default([]),
    serial: z.array(serialPortSchema).default([]),
    /** The floor plan the floor page draws: zones as shapes, positions as points. */
    layout: layoutSection,
    /** Maintenance windows kept in the file; a reload adds, changes and ends them. */
    silences: silencesSection,
  })
  .superRefine((cfg, ctx) => {
    checkSecurity(cfg.security, ctx);
    checkSite(cfg, ctx);
    checkCluster(cfg, ctx);
    checkNotify(cfg.notify, ctx);
    checkSilences(cfg, ctx);
    checkLayout(cfg, ctx);
  });

export type Config = z.output<typeof configSchema>;
