# Bastion: a secure inference gateway for ONNX models.
#
#   docker build -t bastion .
#   docker run --rm -p 8080:8080 \
#     -v /etc/bastion:/etc/bastion:ro -v /srv/bastion/models:/models:ro \
#     -v bastion-state:/var/lib/bastion \
#     -e NODE_ENV=production bastion serve --config /etc/bastion/bastion.yaml
#
# Models, configuration and keys are mounted, never baked in. The image holds no private key.

# ---- build: compile TypeScript with the full dependency set --------------------------------
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and the compiled code only ---------------------------
FROM node:20.20.2-bookworm-slim AS runtime
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    BASTION_CONFIG=/etc/bastion/bastion.yaml
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Example configuration and the demo publisher's public key, for reference; mount your own.
COPY config ./config

# A fixed, unprivileged numeric user (no login shell, no home to write to).
RUN mkdir -p /var/lib/bastion && chown 10001:10001 /var/lib/bastion
USER 10001:10001
VOLUME ["/var/lib/bastion"]
EXPOSE 8080 9464

HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/v2/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "bin/bastion.js"]
CMD ["serve"]
