# The hub as a container, for sites that run docker compose (see docker-compose.yml).
# Build stage: compiles the TypeScript to JavaScript (npm run build → dist/) and better-sqlite3 to a
# native module, then drops the development packages, so neither the compiler nor the toolchain
# reaches the image that runs. Both stages use the same Node: a native module only loads on the
# Node it was built for.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY hub ./hub
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && npm cache clean --force

FROM node:24-bookworm-slim
WORKDIR /app
# The environment the hub asks for, and why each (hub/service-environment.ts, which a test holds
# this list to): two malloc arenas, sixteen threads for disk and DNS, and V8's heap bounded.
ENV NODE_ENV=production \
    FLOORWATCH_BIND=0.0.0.0 \
    FLOORWATCH_DATA_DIR=/data \
    MALLOC_ARENA_MAX=2 \
    UV_THREADPOOL_SIZE=16 \
    NODE_OPTIONS="--max-old-space-size=2000 --max-semi-space-size=16"
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist/hub ./dist/hub
# package.json says the built files are ES modules.
COPY --chown=root:root package.json ./
# The code belongs to root and is read-only to the hub; only /data is the hub's to write.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# MQTT, MQTTS (when security.tls is set), and the API with /metrics and MQTT over WebSocket.
EXPOSE 1883 8883 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/api/v1/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The image runs the floorwatch command line; its `start` runs the hub. node itself runs it (no
# npm or shell in between), so SIGTERM from `docker compose stop` reaches the hub and it stops
# cleanly. `docker compose run --rm hub devices add …` runs any other command.
ENTRYPOINT ["node", "dist/hub/cli/main.js"]
CMD ["start"]
