# syntax=docker/dockerfile:1
# The autopilot-scheduler image: the generic scheduler every operator runs. The manifests of
# `ap generate` (deploy/scheduler.yaml, the Helm chart) use autopilot-scheduler:0.1.0 unless
# `ap deploy --scheduler-image` or the chart's scheduler.image names another. Build it from the
# repository root, which holds the workspace and its Cargo.lock:
#   docker build -t autopilot-scheduler:0.1.0 .      (or: podman build ...)

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the registry and the build output between builds (BuildKit, or podman/buildah);
# the binary is copied out of the cached target directory into the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p autopilot-scheduler --bin autopilot-scheduler \
    && cp target/release/autopilot-scheduler /usr/local/bin/autopilot-scheduler

# glibc and libgcc for the Rust binary, nothing else (TLS is rustls); user 65532 as in the
# manifests' securityContext (runAsNonRoot, runAsUser 65532, readOnlyRootFilesystem).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/autopilot-scheduler /usr/local/bin/autopilot-scheduler
USER 65532:65532
# Prometheus /metrics and /healthz, /readyz: the manifests pass --metrics-addr=0.0.0.0:9091 and
# --health-addr=0.0.0.0:9092 (the defaults of autopilot-operator.yaml's metricsAddr and
# healthAddr), with the project files from the ConfigMap mounted at /config.
EXPOSE 9091 9092
ENTRYPOINT ["/usr/local/bin/autopilot-scheduler"]
