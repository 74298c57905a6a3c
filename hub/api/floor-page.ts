// GET /: the live floor page, and its script and style under /web/. Plain files from hub/web/,
// read once at start: nothing to build. The page holds no data of its own — it asks the API with
// the visitor's token — so it is public, and it gets a stricter Content-Security-Policy than the
// API: no inline script or style at all, and it talks only to this hub (the plan image is fetched
// with the visitor's token and shown from a blob: URL).
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

export const FLOOR_PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const ASSETS = [
  { url: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/web/floor.js', file: 'floor.js', type: 'text/javascript; charset=utf-8' },
  { url: '/web/plan.js', file: 'plan.js', type: 'text/javascript; charset=utf-8' },
  { url: '/web/floor.css', file: 'floor.css', type: 'text/css; charset=utf-8' },
  { url: '/web/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
] as const;

export const floorPageRoutes: FastifyPluginAsync = async (app) => {
  for (const asset of ASSETS) {
    const body = readFileSync(new URL(`../web/${asset.file}`, import.meta.url));
    app.get(asset.url, { config: { role: 'public' }, schema: { hide: true } }, async (_request, reply) => {
      reply
        .header('content-type', asset.type)
        .header('cache-control', 'no-cache')
        .header('content-security-policy', FLOOR_PAGE_CSP);
      return body;
    });
  }
};
