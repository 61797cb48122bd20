# syntax=docker/dockerfile:1
# Build: docker build -t authgate .
# Run (a real Auth0 tenant; see README "Running the container image"):
#   docker run -p 4000:4000 -v authgate-state:/var/lib/authgate \
#     -v $PWD/authgate.toml:/etc/authgate/authgate.toml:ro \
#     -e AUTHGATE_CONFIG=/etc/authgate/authgate.toml \
#     -e AUTHGATE__AUTH0__CLIENT_SECRET=... authgate
# scripts/check-dockerfile checks this file in CI without a Docker daemon: it
# rebuilds the context from .dockerignore, checks every COPY source, and runs
# the `cargo build` line below as `cargo check` (without --release).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole context (.dockerignore keeps out target/, tests, docs, node_modules):
# no stub sources to drift from Cargo.toml. Dependencies are cached across
# builds by the cache mounts, not by a layer.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin authgate \
 && install -D target/release/authgate /out/usr/local/bin/authgate \
 && mkdir -p /out/app /out/var/lib/authgate \
 && cp -r config schema /out/app/ \
 && ln -s /var/lib/authgate /out/app/.authgate

# glibc, CA certificates, no shell, no package manager; runs as uid 65532
FROM gcr.io/distroless/cc-debian12:nonroot
# the binary, config/ and schema/ stay root's (read-only to the gateway);
# only the state directory belongs to its user
COPY --from=build /out/usr/local/bin/authgate /usr/local/bin/authgate
COPY --from=build /out/app /app
COPY --from=build --chown=65532:65532 /out/var/lib/authgate /var/lib/authgate
WORKDIR /app
USER 65532:65532
# Production unless told otherwise: a real tenant must be configured (start-up
# lists what is missing); the emulator and its seeded accounts are refused.
# The default guard.snapshot_path (.authgate/jwks-snapshot.json) lands in the
# state volume through /app/.authgate -> /var/lib/authgate.
ENV AUTHGATE__ENVIRONMENT=production \
    AUTHGATE__SERVER__LISTEN=0.0.0.0:4000 \
    AUTHGATE__TELEMETRY__FORMAT=json
VOLUME ["/var/lib/authgate"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["authgate", "healthcheck"]
ENTRYPOINT ["authgate"]
CMD ["serve"]
