// GET /api/v1/audit: who acknowledged, silenced or changed what, newest first. Admins only.
import type { FastifyPluginAsync } from 'fastify';
import type { AuditLog } from '../security/audit.ts';
import { parseLimit, single } from './params.ts';

export const auditRoutes: FastifyPluginAsync<{ audit: AuditLog }> = async (app, { audit }) => {
  app.get('/api/v1/audit', { config: { role: 'admin' }, schema: { summary: 'Audit log: acknowledgements, silences, device and token changes (admin)' } }, async (request) => {
    const limit = parseLimit('limit', single(request.query, 'limit'), 10_000) ?? 100;
    const action = single(request.query, 'action');
    return { entries: audit.list({ limit, ...(action !== undefined && { action }) }) };
  });
};
