// OpenAPI description of the API, browsable at /docs, made from the routes' own zod schemas.
// Registered before the routes so it sees them.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { createJsonSchemaTransform } from 'fastify-type-provider-zod';

export async function registerDocs(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'floorwatch hub API',
        version,
        description:
          'Readings, devices, rejections and health of a floorwatch hub. Times are ms since 1970 unless stated.',
      },
    },
    // The SenML body of POST /api/v1/readings is taken as raw bytes and described by its metadata.
    transform: createJsonSchemaTransform({ zodToJsonConfig: { unrepresentable: 'any' } }),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
