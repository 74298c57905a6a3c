# The hub as a container for sites that run docker compose.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production FLOORWATCH_BIND=0.0.0.0 FLOORWATCH_DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY hub ./hub
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 1883 8080
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:8080/api/v1/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node_modules/.bin/tsx", "hub/main.ts"]
