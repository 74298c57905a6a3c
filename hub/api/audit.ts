// GET /api/v1/audit: who acknowledged, silenced or changed what, newest first. Admins only.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditEntry, AuditLog } from '../security/audit.ts';
import { limitParam, textParam } from './params.ts';
import { ACCESS_REFUSALS, BAD_REQUEST, schemaOf } from './schemas.ts';

const entry = schemaOf<AuditEntry>()(
  z.object({
    at: z.number().describe('ms since 1970'),
    who: z
      .string()
      .describe('the token name, "cli:<os user>", "anonymous" on an open hub, or "hub" for what the hub did itself'),
    action: z
      .string()
      .describe('such as alert.ack, silence.create, silence.delete, device.add, token.revoke, connection.close'),
    details: z.record(z.string(), z.unknown()).describe('what the action was about, as recorded'),
  }),
);

export interface AuditRoutesOptions {
  audit: AuditLog;
}

export const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, { audit }) => {
  app.get(
    '/api/v1/audit',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Audit log: acknowledgements, silences, device and token changes (admin)',
        querystring: z.object({
          action: textParam('action')
            .optional()
            .describe('only entries of this action, such as alert.ack, silence.create or token.revoke'),
          limit: limitParam('limit', 10_000).optional().describe('most entries returned, 1 to 10000 (default 100)'),
        }),
        response: {
          200: z.object({ entries: z.array(entry).describe('newest first') }).describe('audit entries'),
          400: BAD_REQUEST,
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request) => {
      const { action, limit = 100 } = request.query;
      return { entries: await audit.list({ limit, ...(action !== undefined && { action }) }) };
    },
  );
};
