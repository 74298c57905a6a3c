// POST /api/v1/config/reload: reads the configuration again and takes on what it can, as SIGHUP
// does. Admins only. A configuration with a problem changes nothing: 422 with the problems; a part
// that fails to take a good one on (its disk full) is a 500 that says which, the rest taken on.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ReloadAnswer } from '../config/changes.ts';
import { ACCESS_REFUSALS, schemaOf } from './schemas.ts';

const answer = schemaOf<ReloadAnswer>()(
  z.object({
    ok: z
      .boolean()
      .describe(
        'false: the configuration has problems and the hub runs on as it was, or (with lines under applied) a part of the hub could not take it on',
      ),
    problems: z
      .array(z.string())
      .describe('each problem, naming the field and the line of the file; or each part that could not take it on'),
    applied: z.array(z.string()).describe('what changed now, one line each'),
    needsRestart: z
      .array(z.string())
      .describe('what the file changes that takes a restart (listeners, TLS, storage, …); left as it was'),
    hash: z.string().describe('fingerprint of the configuration the hub runs on now'),
    loadedAt: z.number().describe('when that configuration was taken on, ms since 1970'),
  }),
);

export interface ConfigRoutesOptions {
  reload: (by: string) => ReloadAnswer;
}

export const configRoutes: FastifyPluginAsyncZod<ConfigRoutesOptions> = async (app, { reload }) => {
  app.post(
    '/api/v1/config/reload',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Reload the configuration file without a restart (admin)',
        description:
          'Zones, devices (with their calibration), site hours and seasons, rules, silences kept in the file, receivers, routes and webhooks, limits, ingest checks and topic rules are taken on at once; listeners, TLS, storage, serial ports, bridges, the cluster and the few settings built into them take a restart and are reported as such.',
        response: {
          200: answer.describe('taken on'),
          422: answer.describe('refused: the configuration has problems; nothing changed'),
          500: answer.describe('taken on in part: the parts named under problems could not; restart the hub'),
          ...ACCESS_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const result = reload(request.actor);
      return reply.code(result.ok ? 200 : result.applied.length > 0 ? 500 : 422).send(result);
    },
  );
};
