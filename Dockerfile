# The hub as a container, for sites that run docker compose (see docker-compose.yml).
# Build stage: production dependencies only; better-sqlite3 compiles here, so the toolchain
# never reaches the image that runs.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    FLOORWATCH_BIND=0.0.0.0 \
    FLOORWATCH_DATA_DIR=/data
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root hub ./hub
# The code belongs to root and is read-only to the hub; only /data is the hub's to write.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# MQTT, MQTTS (when security.tls is set), and the API with /metrics and MQTT over WebSocket.
EXPOSE 1883 8883 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/api/v1/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself runs the hub (no npm or shell in between), so SIGTERM from `docker compose stop`
# reaches it and it stops cleanly. `docker compose run --rm hub hub/cli/main.ts …` runs the CLI.
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["hub/main.ts"]
