# syntax=docker/dockerfile:1
# anymax: multi-stage build on the official Node 20 slim image.

# --- build: full install (TypeScript), compile src/ to dist/ ------------------------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies only, non-root ------------------------------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    GRPC_PORT=8081
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The playground page (GET /playground/), served as is; its plotting libraries come from node_modules.
COPY public ./public
# The gRPC service's protocol (read at start by dist/grpc/server.js).
COPY proto ./proto
# The official image ships an unprivileged "node" user (uid 1000).
USER node
# HTTP (REST /v1, /v2) and gRPC (inference.GRPCInferenceService).
EXPOSE 8080 8081
# No curl in the slim image: a node one-liner asks /health/ready.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node runs as PID 1 and handles SIGTERM itself (graceful shutdown
# in src/server.ts); no shell wrapper to swallow the signal. Given more than one CPU
# (docker run --cpus, a pod's limit, else the host's), PID 1 is the primary of one HTTP
# process per CPU (src/cluster.ts), and drains them all; --cpus=1 or PROCESSES=1 runs one.
CMD ["node", "dist/server.js"]
