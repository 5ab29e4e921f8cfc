# Bastion: a secure inference gateway for ONNX models. docs/deploy.md "Container" has the full
# walk-through; in short:
#
#   docker build -t bastion:0.1.0 .
#   docker run --rm -p 8080:8080 --read-only --cap-drop ALL --security-opt no-new-privileges \
#     -v /etc/bastion:/etc/bastion:ro -v /srv/bastion/models:/srv/bastion/models:ro \
#     -v bastion-state:/var/lib/bastion bastion:0.1.0
#
# Paths are those of config/production.example.yaml: configuration and keys in /etc/bastion,
# models in /srv/bastion/models, state and the audit log in /var/lib/bastion. Models,
# configuration and keys are mounted, never baked in: the image holds no private key.

# Both stages use one base image, pinned by digest (the multi-platform index of the tag written
# before the @). To move to a newer Node 20 patch, resolve its digest
# (docker buildx imagetools inspect node:20.x.y-bookworm-slim) and change both FROM lines
# together; test/deploy/dockerfile-lint.test.ts refuses a tag without a digest.

# ---- build: compile TypeScript with the full dependency set, then prune to production --------
# node:20.20.2-bookworm-slim
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    ORT_DISABLE_TELEMETRY=1
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# Production dependencies only (no tsx, esbuild or TypeScript), and only this platform's ONNX
# Runtime binaries (onnxruntime-node ships darwin, linux and win32 builds: ~245 MB not needed).
COPY deploy/docker/prune-onnxruntime.mjs ./deploy/docker/
RUN npm prune --omit=dev --no-audit --no-fund \
 && node deploy/docker/prune-onnxruntime.mjs node_modules/onnxruntime-node \
 && if [ -e node_modules/tsx ] || [ -e node_modules/esbuild ] || [ -e node_modules/typescript ]; then \
      echo 'a TypeScript runtime is left in node_modules' >&2; exit 1; fi

# ---- runtime: the compiled code, production dependencies, no package manager -----------------
# node:20.20.2-bookworm-slim
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS runtime
ENV NODE_ENV=production \
    ORT_DISABLE_TELEMETRY=1 \
    BASTION_CONFIG=/etc/bastion/bastion.yaml
WORKDIR /app
# npm, npx, corepack and yarn are not needed to run and only widen what an intruder could use.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn \
      /usr/local/bin/yarnpkg \
 && mkdir -p /var/lib/bastion/audit /etc/bastion /srv/bastion/models \
 && chown -R 10001:10001 /var/lib/bastion
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Example configuration and the demo publisher's public key, for reference; mount your own.
COPY config ./config

# A fixed, unprivileged numeric user (no login shell, no home to write to); runs with a read-only
# root file system: only /var/lib/bastion (state, audit log) is written.
USER 10001:10001
VOLUME ["/var/lib/bastion"]
# The API listener (server.port). The management listener (metrics.port, 9464) binds loopback in
# config/production.example.yaml; publish it only where the config binds it wider, with a token.
EXPOSE 8080

# The management listener answers /v2/health/* on loopback whatever TLS the API listener uses, so
# this works in the documented production setup; node's fetch, no curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/v2/health/live',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/bastion.js"]
CMD ["serve"]
