# syntax=docker/dockerfile:1
# islb in a container: the package built and packed in a first stage, installed (runtime
# dependencies only) into a slim image that runs `islb serve` as the unprivileged `node` user.
#   docker build -t islb .
#   docker run --rm -p 127.0.0.1:9464:9464 -e NATS_URL=nats://nats:4222 -e REDIS_URL=redis://redis:6379 islb
# The HTTP listener (health, metrics, the cluster page) is on 0.0.0.0:9464 inside the container;
# publish it on the host's loopback (as above) or put it behind your own proxy.
# (Images cannot be pulled or built on islb's development machines: test/integration/container.test.ts
# checks this file and compose.yaml against the package and `islb serve --help` instead.)

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY generated ./generated
COPY proto ./proto
COPY descriptors ./descriptors
COPY README.md LICENSE CHANGELOG.md ./
# npm ci runs `prepare`, which builds dist/ with tsc; npm pack makes the tarball users install.
RUN npm ci --no-audit --no-fund && npm pack --pack-destination /tmp && mv /tmp/islb-*.tgz /tmp/islb.tgz

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    ISLB_HTTP=0.0.0.0:9464
WORKDIR /app
COPY --from=build /tmp/islb.tgz /tmp/islb.tgz
RUN npm install --omit=dev --no-audit --no-fund /tmp/islb.tgz && rm /tmp/islb.tgz && npm cache clean --force
USER node
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The bin itself as PID 1 (not npx or a shell), so SIGTERM reaches islb, which drains (5 s at
# most by default, inside Docker's 10 s stop timeout) and exits 0.
ENTRYPOINT ["node_modules/.bin/islb"]
CMD ["serve"]
