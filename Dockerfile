# syntax=docker/dockerfile:1
#
# Container images of the marketing module: one builder, three runtime targets.
#
#   docker build --target campaign-svc    -t campaign-svc:dev    .
#   docker build --target dispatch-worker -t dispatch-worker:dev .
#   docker build --target marketingctl    -t marketingctl:dev    .
#
# The builder compiles the binaries once (BuildKit shares the stage between the two targets).
# No protoc is needed: proto/build.rs compiles the .proto files with protox. The SQL migrations
# are embedded into the binaries at compile time (diesel `embed_migrations!`), so the runtime
# images need nothing but the binary.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
# The web console (console/ → /console/dist), served by campaign-svc at /console.
FROM ${NODE_IMAGE} AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
COPY console/ ./
RUN npm run build

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the crates.io downloads and the target directory between builds; the
# binaries are copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bins -p campaign-svc -p dispatch-worker -p marketingctl \
 && mkdir -p /out \
 && cp target/release/campaign-svc target/release/dispatch-worker target/release/marketingctl /out/

# ---------------------------------------------------------------------------------------------
# dispatch-worker: consumes <QUEUE_PREFIX>.send; /healthz, /readyz and /metrics on METRICS_ADDR.
# SIGTERM: stops consuming, finishes its batch, acks, exits (give it ~60 s).
FROM ${RUNTIME_IMAGE} AS dispatch-worker
LABEL org.opencontainers.image.title="dispatch-worker" \
      org.opencontainers.image.description="CRM marketing: delivers send jobs from RabbitMQ" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder --chmod=0555 /out/dispatch-worker /usr/local/bin/dispatch-worker
# Numeric non-root user (matches runAsUser 10001 in deploy/k8s); no shell, no package manager.
USER 10001:10001
EXPOSE 9091
ENTRYPOINT ["/usr/local/bin/dispatch-worker"]

# ---------------------------------------------------------------------------------------------
# campaign-svc: REST + /healthz + /readyz + /metrics on 8080, gRPC on 50051. Creates and
# migrates the database at start-up (advisory lock: concurrent replicas are safe).
FROM ${RUNTIME_IMAGE} AS campaign-svc
LABEL org.opencontainers.image.title="campaign-svc" \
      org.opencontainers.image.description="CRM marketing: campaigns over REST and gRPC" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder --chmod=0555 /out/campaign-svc /usr/local/bin/campaign-svc
COPY --from=console /console/dist /usr/share/campaign-svc/console
ENV CONSOLE_DIR=/usr/share/campaign-svc/console
USER 10001:10001
EXPOSE 8080 50051
ENTRYPOINT ["/usr/local/bin/campaign-svc"]

# ---------------------------------------------------------------------------------------------
# marketingctl: the operator's CLI (docs/cli.md), e.g.
#   docker run --rm -e MARKETING_GRPC_ADDR=http://campaign-svc:50051 -e MARKETING_TOKEN=… \
#     marketingctl:dev campaigns list
FROM ${RUNTIME_IMAGE} AS marketingctl
LABEL org.opencontainers.image.title="marketingctl" \
      org.opencontainers.image.description="CRM marketing: the operator's command-line tool" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder --chmod=0555 /out/marketingctl /usr/local/bin/marketingctl
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/marketingctl"]
