// OpenAPI description of the API, browsable at /docs. Registered before the routes so it sees them.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export async function registerDocs(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'floorwatch hub API',
        version,
        description: 'Readings, devices, rejections and health of a floorwatch hub. Times are ms since 1970 unless stated.',
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
